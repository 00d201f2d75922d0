import Foundation

/// Reading and writing whole files with one-line errors that say what is wrong with the path,
/// instead of Foundation's error descriptions ("NSCocoaErrorDomain error 512", "You don't have
/// permission" for a device).
public enum FileAccess {
    /// Why `path` cannot be read as a file, or nil when it can be tried.
    public static func readProblem(_ path: String) -> String? {
        if path.isEmpty { return "no file name given" }
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else { return "no such file" }
        if isDirectory.boolValue { return "is a directory, not a file" }
        if let type = (try? FileManager.default.attributesOfItem(atPath: path))?[.type] as? FileAttributeType,
           type != .typeRegular, type != .typeSymbolicLink {
            return "is not a regular file"
        }
        return nil
    }

    /// The file's bytes (mapped when possible).
    public static func read(_ path: String) throws -> Data {
        let ctx = ErrorContext(file: path)
        if let problem = readProblem(path) { throw KiteError.io(ctx, problem) }
        do {
            return try Data(contentsOf: URL(fileURLWithPath: path), options: .alwaysMapped)
        } catch {
            throw KiteError.io(ctx, "cannot read file: \(reason(error))")
        }
    }

    /// Writes `data` to `path`, replacing a file there.
    public static func write(_ data: Data, to path: String) throws {
        let ctx = ErrorContext(file: path)
        if let problem = writeProblem(path) { throw KiteError.io(ctx, "cannot write file: \(problem)") }
        do {
            try data.write(to: URL(fileURLWithPath: path))
        } catch {
            throw KiteError.io(ctx, "cannot write file: \(reason(error))")
        }
    }

    /// Creates directory `path` (and its parents) unless it exists.
    public static func makeDirectory(_ path: String) throws {
        let ctx = ErrorContext(file: path)
        if path.isEmpty { throw KiteError.io(ctx, "no directory name given") }
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) {
            if isDirectory.boolValue { return }
            throw KiteError.io(ctx, "exists and is not a directory")
        }
        do {
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        } catch {
            throw KiteError.io(ctx, "cannot create directory: \(reason(error))")
        }
    }

    /// Why a file cannot be written at `path`, when that can be told beforehand.
    static func writeProblem(_ path: String) -> String? {
        if path.isEmpty { return "no file name given" }
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) {
            if isDirectory.boolValue { return "is a directory" }
            if let type = (try? FileManager.default.attributesOfItem(atPath: path))?[.type] as? FileAttributeType,
               type != .typeRegular, type != .typeSymbolicLink {
                return "is not a regular file"
            }
            return nil
        }
        let parent = (path as NSString).deletingLastPathComponent
        if !parent.isEmpty {
            guard FileManager.default.fileExists(atPath: parent, isDirectory: &isDirectory) else {
                return "directory '\(parent)' does not exist"
            }
            if !isDirectory.boolValue { return "'\(parent)' is not a directory" }
        }
        return nil
    }

    /// The system's reason for an I/O error (the POSIX message when there is one).
    public static func reason(_ error: Error) -> String {
        let ns = error as NSError
        let posix = ns.domain == NSPOSIXErrorDomain ? ns
            : (ns.userInfo[NSUnderlyingErrorKey] as? NSError).flatMap { $0.domain == NSPOSIXErrorDomain ? $0 : nil }
        if let posix, let text = strerror(Int32(posix.code)) { return String(cString: text).lowercased() }
        return ns.localizedDescription
    }
}
