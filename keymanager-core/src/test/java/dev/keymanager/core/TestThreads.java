package dev.keymanager.core;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicReference;

/**
 * Threads started on one body, for the concurrency tests: {@link #join()} waits for them all and
 * fails with the first exception or assertion error any of them threw.
 */
final class TestThreads {
  private static final Duration JOIN = Duration.ofSeconds(60);

  /** What each thread runs. */
  interface Body {
    void run() throws Exception;
  }

  private final List<Thread> threads = new ArrayList<>();
  private final AtomicReference<Throwable> failure = new AtomicReference<>();

  private TestThreads() {}

  static TestThreads start(int count, Body body) {
    TestThreads started = new TestThreads();
    for (int t = 0; t < count; t++) {
      Thread thread =
          new Thread(
              () -> {
                try {
                  body.run();
                } catch (Throwable e) {
                  started.failure.compareAndSet(null, e);
                }
              });
      thread.start();
      started.threads.add(thread);
    }
    return started;
  }

  void join() throws InterruptedException {
    for (Thread thread : threads) {
      thread.join(JOIN.toMillis());
      if (thread.isAlive()) {
        throw new AssertionError(thread.getName() + " still runs after " + JOIN);
      }
    }
    Throwable failed = failure.get();
    if (failed != null) {
      throw new AssertionError("a test thread failed", failed);
    }
  }
}
