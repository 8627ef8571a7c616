package dev.keymanager.core;

import java.util.concurrent.Executor;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.ThreadFactory;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The threads a key manager makes its KMS calls on: a fixed maximum of daemon threads, started on
 * demand and ended after 30 idle seconds, so an idle key manager holds none. {@link #close()} stops
 * them and waits (boundedly) until they are gone.
 */
final class KmsExecutor implements Executor, AutoCloseable {
  private static final Logger log = LoggerFactory.getLogger(KmsExecutor.class);
  private static final AtomicInteger INSTANCES = new AtomicInteger();
  static final String THREAD_PREFIX = "keymanager-kms-";

  private final ThreadPoolExecutor pool;
  private final String prefix;

  KmsExecutor(int threads) {
    String prefix = THREAD_PREFIX + INSTANCES.incrementAndGet() + "-";
    this.prefix = prefix;
    AtomicInteger count = new AtomicInteger();
    ThreadFactory factory =
        r -> {
          Thread t = new Thread(r, prefix + count.incrementAndGet());
          t.setDaemon(true);
          return t;
        };
    this.pool =
        new ThreadPoolExecutor(
            threads, threads, 30, TimeUnit.SECONDS, new LinkedBlockingQueue<>(), factory);
    pool.allowCoreThreadTimeOut(true);
  }

  /** The name every thread of this executor starts with. */
  String threadPrefix() {
    return prefix;
  }

  @Override
  public void execute(Runnable task) {
    pool.execute(task);
  }

  /** Interrupts KMS calls in flight and waits up to 5 seconds for the threads to end. */
  @Override
  public void close() {
    pool.shutdownNow();
    try {
      if (!pool.awaitTermination(5, TimeUnit.SECONDS)) {
        log.warn("KMS calls still running 5 s after close; their threads end when they return");
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }
}
