import ArgumentParser
import Foundation
import Kite
import KiteCore

@main
struct KiteCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kite",
        abstract: "Convert, run and profile lightweight CNNs on the CPU.",
        subcommands: [InspectCommand.self, ConvertCommand.self, RunCommand.self, ProfileCommand.self, BenchCommand.self, ConformanceCommand.self]
    )

    /// Parses and runs a subcommand; Kite's own errors print as one line and exit 1.
    static func main() {
        HeapPolicy.keepLargeBlocks()
        do {
            var command = try parseAsRoot()
            try command.run()
        } catch let error as KiteError {
            FileHandle.standardError.write(Data("kite: error: \(error)\n".utf8))
            Foundation.exit(1)
        } catch {
            exit(withError: error)
        }
    }
}
