import Dispatch
#if canImport(Glibc)
import Glibc
#endif
import Synchronization
import XCTest
@testable import KiteKernels

/// The calling thread's pthread identity as a number.
func currentThreadID() -> UInt {
    #if canImport(Glibc)
    return UInt(pthread_self())
    #else
    return UInt(bitPattern: pthread_self())
    #endif
}

@available(macOS 15.0, *)
final class WorkerPoolTests: XCTestCase {
    func testEveryIndexRunsOnce() {
        let pool = WorkerPool(threadCount: 3)
        var hits = [Int](repeating: 0, count: 1000)
        for round in 0..<2000 {
            let count = 1 + round % 37
            hits.withUnsafeMutableBufferPointer { h in
                let base = h.baseAddress!
                pool.parallelFor(count: count) { i in base[i] += 1 }
            }
        }
        var expected = [Int](repeating: 0, count: 1000)
        for round in 0..<2000 { for i in 0..<(1 + round % 37) { expected[i] += 1 } }
        XCTAssertEqual(hits, expected)
    }

    /// A job of at most `threadCount` tasks gives task i to thread i (the caller is thread 0), so
    /// operators split alike run each part on the thread that computed it before. The tasks wait
    /// for each other, so none can be taken over by a thread that finished its own first.
    func testTaskIOfASmallJobRunsOnThreadI() {
        let pool = WorkerPool(threadCount: 3, spinMicroseconds: 50)
        let caller = currentThreadID()
        var owners = [[UInt]](repeating: [], count: 3)
        for round in 0..<60 {
            if round % 20 == 0 { usleep(2000) } // workers asleep: woken, they still take their own tasks
            let count = 2 + round % 2
            let started = Atomic<Int>(0)
            var ran = [UInt](repeating: 0, count: count)
            ran.withUnsafeMutableBufferPointer { r in
                let slots = r.baseAddress!
                pool.parallelFor(count: count) { i in
                    slots[i] = currentThreadID()
                    started.wrappingAdd(1, ordering: .acquiringAndReleasing)
                    let deadline = DispatchTime.now().uptimeNanoseconds + 2_000_000_000
                    while started.load(ordering: .acquiring) < count && DispatchTime.now().uptimeNanoseconds < deadline {}
                }
            }
            for i in 0..<count { owners[i].append(ran[i]) }
        }
        XCTAssertEqual(Set(owners[0]), [caller])
        XCTAssertEqual(Set(owners[1]).count, 1)
        XCTAssertEqual(Set(owners[2]).count, 1)
        XCTAssertEqual(Set(owners.map { $0[0] }).count, 3, "three tasks, three threads")
    }

    func testTasksRunOnSeveralThreadsAndSleepWake() {
        let pool = WorkerPool(threadCount: 2, spinMicroseconds: 50)
        let total = Atomic<Int>(0)
        for round in 0..<20 {
            if round % 5 == 0 { usleep(2000) } // let workers fall asleep, then wake them
            pool.parallelFor(count: 64) { i in
                var x = 0
                for j in 0..<2000 { x &+= j ^ i }
                total.wrappingAdd(1 + (x & 0), ordering: .relaxed)
            }
        }
        XCTAssertEqual(total.load(ordering: .relaxed), 20 * 64)
    }

    func testNestedAndConcurrentCallsAreSerialisedSafely() {
        let pool = WorkerPool(threadCount: 2)
        let total = Atomic<Int>(0)
        pool.parallelFor(count: 4) { _ in
            pool.parallelFor(count: 5) { _ in total.wrappingAdd(1, ordering: .relaxed) }
        }
        XCTAssertEqual(total.load(ordering: .relaxed), 20)
        total.store(0, ordering: .relaxed)
        DispatchQueue.concurrentPerform(iterations: 4) { _ in
            for _ in 0..<200 {
                pool.parallelFor(count: 3) { _ in total.wrappingAdd(1, ordering: .relaxed) }
            }
        }
        XCTAssertEqual(total.load(ordering: .relaxed), 4 * 200 * 3)
    }

    func testSingleThreadPoolAndPartition() {
        let pool = WorkerPool(threadCount: 1)
        var seen = [Int]()
        pool.parallelFor(count: 5) { seen.append($0) }
        XCTAssertEqual(seen, [0, 1, 2, 3, 4])
        XCTAssertEqual((0..<3).map { WorkerPool.partition(10..<20, parts: 3, index: $0) }, [10..<14, 14..<17, 17..<20])
        XCTAssertEqual((0..<4).map { WorkerPool.partition(0..<2, parts: 4, index: $0).count }, [1, 1, 0, 0])
    }

    func testPoolDeinitJoinsWorkers() {
        for _ in 0..<20 {
            let pool = WorkerPool(threadCount: 3, spinMicroseconds: 10)
            pool.parallelFor(count: 6) { _ in }
        }
    }
}
