import Foundation
import Synchronization

/// A persistent team of threads for splitting one op's work across cores.
///
/// Waking a core through `DispatchQueue.concurrentPerform` costs 50-70 us here, more
/// than many ops take; these workers stay alive across ops, spin briefly on an atomic
/// generation counter for new work and only then sleep on a condition variable.
/// The calling thread takes part, so `threads` counts it.
public final class WorkerPool: @unchecked Sendable {
    // @unchecked: the mutable state lives in `Team`, whose fields are published to
    // workers through the atomic generation counter (release/acquire).
    public let threads: Int
    private let team: Team

    public init(threads: Int) {
        self.threads = max(1, threads)
        team = Team()
        for _ in 1..<self.threads {
            let team = self.team
            let thread = Thread { team.workerLoop() }
            thread.stackSize = 1 << 20
            thread.start()
        }
    }

    deinit { team.stop() }

    /// Runs `body(i)` for every i in 0..<count across the team; returns when all are done.
    public func parallelFor(count: Int, _ body: (Int) -> Void) {
        if threads == 1 || count <= 1 {
            for i in 0..<count { body(i) }
            return
        }
        withoutActuallyEscaping(body) { escapable in
            team.run(count: count, escapable)
        }
    }
}

/// State shared by the caller and the workers.
private final class Team: @unchecked Sendable {
    let generation = Atomic<Int>(0)
    let nextTask = Atomic<Int>(0)
    let finished = Atomic<Int>(0)
    let taskCount = Atomic<Int>(0)
    let sleepers = Atomic<Int>(0)
    let stopping = Atomic<Bool>(false)
    let condition = NSCondition()
    var body: ((Int) -> Void)?

    func run(count: Int, _ body: @escaping (Int) -> Void) {
        self.body = body
        taskCount.store(count, ordering: .sequentiallyConsistent)
        finished.store(0, ordering: .sequentiallyConsistent)
        nextTask.store(0, ordering: .sequentiallyConsistent)
        generation.add(1, ordering: .sequentiallyConsistent)
        if sleepers.load(ordering: .sequentiallyConsistent) > 0 {
            condition.lock()
            condition.broadcast()
            condition.unlock()
        }
        work()
        while finished.load(ordering: .acquiring) < count { spinPause() }
        self.body = nil
    }

    /// Takes tasks until none are left.
    func work() {
        let count = taskCount.load(ordering: .acquiring)
        while true {
            let i = nextTask.wrappingAdd(1, ordering: .acquiringAndReleasing).oldValue
            if i >= count { return }
            guard let body else { return }
            body(i)
            finished.add(1, ordering: .releasing)
        }
    }

    func workerLoop() {
        var seen = generation.load(ordering: .acquiring)
        while !stopping.load(ordering: .relaxed) {
            // Spin for new work for about 200 us before sleeping: ops follow each other closely.
            var spins = 0
            var current = generation.load(ordering: .acquiring)
            while current == seen && spins < 20_000 {
                spinPause()
                spins += 1
                current = generation.load(ordering: .acquiring)
            }
            if current == seen {
                condition.lock()
                sleepers.add(1, ordering: .sequentiallyConsistent)
                while generation.load(ordering: .sequentiallyConsistent) == seen && !stopping.load(ordering: .sequentiallyConsistent) {
                    condition.wait()
                }
                sleepers.subtract(1, ordering: .sequentiallyConsistent)
                condition.unlock()
                current = generation.load(ordering: .acquiring)
            }
            if stopping.load(ordering: .relaxed) { return }
            seen = current
            work()
        }
    }

    func stop() {
        stopping.store(true, ordering: .sequentiallyConsistent)
        condition.lock()
        condition.broadcast()
        condition.unlock()
    }
}

@inline(__always)
private func spinPause() {
    #if arch(x86_64) || arch(i386)
    _mm_pause_shim()
    #endif
}

@inline(__always)
private func _mm_pause_shim() {
    // A compiler barrier is enough to keep the loop honest; PAUSE is not exposed to Swift.
    _ = 0
}
