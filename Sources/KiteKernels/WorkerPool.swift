// A persistent thread pool with low dispatch latency for per-operator parallel loops.

import Synchronization
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A persistent pool of `threadCount - 1` worker threads; the calling thread takes part in
/// every `parallelFor`, so `threadCount` threads run the tasks.
///
/// Dispatch is one atomic store: idle workers spin on the job word for `spinMicroseconds`
/// (back-to-back operators of one inference find them awake) before sleeping on a
/// condition variable. Tasks are claimed with a compare-and-swap on a word that packs
/// `(generation, count, claims)`, so a late worker can never run a task of a newer job.
///
/// A job of at most `threadCount` tasks gives task i to thread i (the caller is thread 0), and
/// the caller runs whatever a worker has not started by the time its own task is done. So the
/// same thread computes the same part of every operator that splits by rows or channels alike,
/// and reads what it wrote itself from its own caches: on a 2-vCPU Zen 1, reading 64 KiB the
/// other core had written took 6.9 us against 2.9 us, and which thread took which task used to
/// depend on who claimed first. A larger job hands tasks out in order to whoever asks next.
///
/// `parallelFor` is not re-entrant: a call made from inside a task, or while another thread's
/// call is running, runs its tasks serially on the calling thread (correct, just not parallel).
@available(macOS 15.0, iOS 18.0, tvOS 18.0, watchOS 11.0, *)
public final class WorkerPool: Sendable {
    /// Threads that run tasks, including the caller.
    public let threadCount: Int
    private let shared: WorkerPoolShared
    private let threads: [WorkerThreadHandle]

    /// How long idle workers spin before sleeping: `KITE_SPIN_US` in the environment (at most
    /// one second), else 200.
    public static var defaultSpinMicroseconds: Int {
        if let v = environmentValue("KITE_SPIN_US"), let us = Int(v), us >= 0 { return min(us, 1_000_000) }
        return 200
    }

    /// Online processors of this machine.
    public static var processorCount: Int {
        max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))))
    }

    /// Creates a pool whose `parallelFor` runs on `threadCount` threads (the caller plus
    /// `threadCount - 1` workers). Idle workers spin for `spinMicroseconds` before sleeping.
    ///
    /// At most `maximumThreadCount` threads. When the system refuses a thread (a thread or memory
    /// limit), the pool keeps the workers it got and `threadCount` says how many threads run;
    /// a job's tasks that no worker takes are run by the caller.
    public init(threadCount: Int = WorkerPool.processorCount, spinMicroseconds: Int = WorkerPool.defaultSpinMicroseconds) {
        let requested = min(max(1, threadCount), WorkerPool.maximumThreadCount)
        shared = WorkerPoolShared(spinNanoseconds: min(max(spinMicroseconds, 0), 1_000_000) * 1000, threadCount: requested)
        var handles = [WorkerThreadHandle]()
        for _ in 1..<requested {
            guard let handle = WorkerThreadHandle(start: shared, index: handles.count + 1) else { break }
            handles.append(handle)
        }
        threads = handles
        self.threadCount = handles.count + 1
    }

    /// Most threads a pool runs.
    public static let maximumThreadCount = 1024

    deinit {
        shared.shutdown.store(true, ordering: .sequentiallyConsistent)
        // A new generation wakes spinning workers; the broadcast wakes sleeping ones.
        shared.state.wrappingAdd(1 << WorkerPoolShared.generationShift, ordering: .sequentiallyConsistent)
        shared.wakeSleepers(force: true)
        for t in threads { t.join() }
    }

    /// Runs `body(i)` for every i in `0..<count`, spread over the pool's threads, and returns when
    /// all calls have finished. Calls for distinct indices run concurrently, so `body` must be
    /// safe to run concurrently for distinct indices (typically: each index writes its own rows
    /// or channels). `count` must be below 2^20.
    ///
    /// `body` is escaping because a worker may still hold its reference for a moment after the
    /// last task completes (a non-escaping closure would trip Swift's escape check then).
    public func parallelFor(count: Int, _ body: @escaping (Int) -> Void) {
        if count <= 0 { return }
        precondition(count <= WorkerPoolShared.fieldMask, "parallelFor count too large")
        if count == 1 || threads.isEmpty || !shared.busy.compareExchange(
            expected: false, desired: true, ordering: .acquiring).exchanged {
            for i in 0..<count { body(i) }
            return
        }
        shared.run(count: count, body: body)
        shared.busy.store(false, ordering: .releasing)
    }

    /// Splits `range` into `parts` contiguous pieces differing in size by at most one and returns piece `index`.
    public static func partition(_ range: Range<Int>, parts: Int, index: Int) -> Range<Int> {
        let n = range.count, p = max(1, parts)
        let base = n / p, extra = n % p
        let lo = range.lowerBound + index * base + min(index, extra)
        return lo..<(lo + base + (index < extra ? 1 : 0))
    }
}

/// State shared by the caller and the workers.
///
/// `@unchecked Sendable`: the atomics are `Atomic`; `body` is written only by the thread that
/// owns the `busy` flag, before the job word is published with a sequentially consistent store,
/// and read by workers only after they claimed a task of that job with an acquiring CAS; it is
/// cleared only after every task of the job completed (`completed == count`, read with acquire),
/// at which point no worker can claim a task of that job any more. The pthread mutex/condition
/// pointers are allocated once and only used through the pthread API.
@available(macOS 15.0, iOS 18.0, tvOS 18.0, watchOS 11.0, *)
final class WorkerPoolShared: @unchecked Sendable {
    static let fieldBits = 21
    static let fieldMask = (1 << fieldBits) - 1
    static let generationShift = 2 * fieldBits

    /// `generation << 42 | count << 21 | claims`: claims is a bit per task when count <= threadCount
    /// (`ownsTasks`), else the next task to hand out.
    let state = Atomic<Int>(0)
    /// Tasks of the current job that finished.
    let completed = Atomic<Int>(0)
    /// Workers blocked (or about to block) on the condition variable.
    let sleepers = Atomic<Int>(0)
    let shutdown = Atomic<Bool>(false)
    /// Owned by the thread inside `parallelFor`.
    let busy = Atomic<Bool>(false)
    /// The current job's body (see the type comment for why unsynchronised access is safe).
    var body: ((Int) -> Void)?
    private var generation = 0
    let spinNanoseconds: Int
    let threadCount: Int
    let mutex: UnsafeMutablePointer<pthread_mutex_t>
    let cond: UnsafeMutablePointer<pthread_cond_t>

    init(spinNanoseconds: Int, threadCount: Int) {
        self.spinNanoseconds = spinNanoseconds
        self.threadCount = threadCount
        mutex = .allocate(capacity: 1)
        cond = .allocate(capacity: 1)
        pthread_mutex_init(mutex, nil)
        pthread_cond_init(cond, nil)
    }

    deinit {
        pthread_cond_destroy(cond)
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
        cond.deallocate()
    }

    @inline(__always)
    static func generation(_ s: Int) -> Int { s >> generationShift }

    /// Caller side of `parallelFor`.
    func run(count: Int, body: @escaping (Int) -> Void) {
        self.body = body
        completed.store(0, ordering: .relaxed)
        generation = (generation + 1) & WorkerPoolShared.fieldMask
        state.store(generation << WorkerPoolShared.generationShift | count << WorkerPoolShared.fieldBits,
                    ordering: .sequentiallyConsistent)
        wakeSleepers(force: false)
        claimTasks(generation: generation, thread: 0)
        if ownsTasks(count) {
            // Tasks whose thread has not started them yet.
            for task in 1..<count { claimTasks(generation: generation, thread: task) }
        }
        // Wait for tasks still running on workers.
        var spins = 0
        while completed.load(ordering: .acquiring) < count {
            spinPause()
            spins += 1
            if spins > 4096 { sched_yield() }
        }
        self.body = nil
    }

    /// Wakes sleeping workers (after a new job word was published).
    func wakeSleepers(force: Bool) {
        if force || sleepers.load(ordering: .sequentiallyConsistent) > 0 {
            pthread_mutex_lock(mutex)
            pthread_cond_broadcast(cond)
            pthread_mutex_unlock(mutex)
        }
    }

    /// Whether each task of a `count`-task job belongs to one thread (task i to thread i).
    @inline(__always)
    func ownsTasks(_ count: Int) -> Bool { count <= threadCount && count <= WorkerPoolShared.fieldBits }

    /// Runs tasks of job `generation`: in a job of owned tasks, task `thread` if no one has claimed
    /// it; otherwise tasks in order until none are left.
    @inline(__always)
    func claimTasks(generation: Int, thread: Int) {
        let mask = WorkerPoolShared.fieldMask
        while true {
            let s = state.load(ordering: .acquiring)
            if WorkerPoolShared.generation(s) != generation { return }
            let claims = s & mask
            let count = (s >> WorkerPoolShared.fieldBits) & mask
            let owned = ownsTasks(count)
            let index: Int
            let claimed: Int
            if owned {
                let bit = 1 << thread
                if thread >= count || claims & bit != 0 { return }
                index = thread
                claimed = s | bit
            } else {
                if claims >= count { return }
                index = claims
                claimed = s + 1
            }
            if !state.compareExchange(expected: s, desired: claimed, ordering: .acquiringAndReleasing).exchanged {
                continue
            }
            body.unsafelyUnwrapped(index)
            completed.wrappingAdd(1, ordering: .releasing)
            if owned { return }
        }
    }

    /// Worker thread main loop.
    func workerLoop(index: Int) {
        var seen = 0
        while true {
            var s = state.load(ordering: .acquiring)
            if WorkerPoolShared.generation(s) == seen {
                // Spin for a while, then sleep until a new generation is published.
                let deadline = monotonicNanoseconds() + spinNanoseconds
                var spins = 0
                while WorkerPoolShared.generation(s) == seen {
                    spinPause()
                    spins += 1
                    if spins & 255 == 0 && monotonicNanoseconds() > deadline {
                        pthread_mutex_lock(mutex)
                        sleepers.wrappingAdd(1, ordering: .sequentiallyConsistent)
                        while WorkerPoolShared.generation(state.load(ordering: .sequentiallyConsistent)) == seen {
                            pthread_cond_wait(cond, mutex)
                        }
                        sleepers.wrappingSubtract(1, ordering: .sequentiallyConsistent)
                        pthread_mutex_unlock(mutex)
                    }
                    s = state.load(ordering: .acquiring)
                }
            }
            if shutdown.load(ordering: .acquiring) { return }
            seen = WorkerPoolShared.generation(s)
            claimTasks(generation: seen, thread: index)
        }
    }
}

/// The spin-wait hint (x86 `pause`): a spinning thread then takes less of the core's resources
/// from the thread it waits for. Measured on a 2-vCPU Zen 1 VM: a loop spinning on the other vCPU
/// made a 1-thread MobileNetV3-Small 1.6x slower without the hint, 1.36x with it.
#if arch(x86_64)
@_silgen_name("llvm.x86.sse2.pause") func spinPause()
#else
@inline(__always) func spinPause() {}
#endif

@inline(__always)
func monotonicNanoseconds() -> Int {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Int(ts.tv_sec) * 1_000_000_000 + Int(ts.tv_nsec)
}

/// A joinable pthread running `WorkerPoolShared.workerLoop`.
///
/// `@unchecked Sendable`: the pthread handle is written once at creation and only used to join.
@available(macOS 15.0, iOS 18.0, tvOS 18.0, watchOS 11.0, *)
final class WorkerThreadHandle: @unchecked Sendable {
    #if canImport(Darwin)
    private var thread: pthread_t?
    #else
    private var thread = pthread_t()
    #endif

    /// Starts the thread; nil when the system refuses it.
    init?(start shared: WorkerPoolShared, index: Int) {
        let retained = Unmanaged.passRetained(WorkerStart(shared: shared, index: index))
        let context = retained.toOpaque()
        let rc = pthread_create(&thread, nil, { raw in
            #if canImport(Darwin)
            let start = Unmanaged<WorkerStart>.fromOpaque(raw).takeRetainedValue()
            #else
            let start = Unmanaged<WorkerStart>.fromOpaque(raw!).takeRetainedValue()
            #endif
            start.shared.workerLoop(index: start.index)
            return nil
        }, context)
        if rc != 0 {
            retained.release()
            return nil
        }
    }

    func join() {
        #if canImport(Darwin)
        if let thread { pthread_join(thread, nil) }
        #else
        pthread_join(thread, nil)
        #endif
    }
}

/// What a new worker thread starts from: the pool's shared state and the worker's thread index.
@available(macOS 15.0, iOS 18.0, tvOS 18.0, watchOS 11.0, *)
final class WorkerStart: Sendable {
    let shared: WorkerPoolShared
    let index: Int
    init(shared: WorkerPoolShared, index: Int) {
        self.shared = shared
        self.index = index
    }
}
