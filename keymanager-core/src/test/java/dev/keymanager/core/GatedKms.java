package dev.keymanager.core;

import dev.keymanager.spi.KmsProvider;
import dev.keymanager.spi.KmsUnwrapper;
import dev.keymanager.spi.KmsWrapper;
import java.net.URI;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * A KMS provider whose unwraps wait at a gate the test opens, so a test can hold KMS calls in
 * flight as long as it needs with no sleeps: it counts the calls that arrived, how many ran at
 * once, and on which threads. Wraps pass straight through.
 */
final class GatedKms implements KmsProvider {
  private final KmsProvider delegate;
  private final CountDownLatch gate = new CountDownLatch(1);
  private final Semaphore arrived = new Semaphore(0);
  private final AtomicInteger inFlight = new AtomicInteger();
  private final AtomicInteger maxInFlight = new AtomicInteger();
  private final AtomicInteger unwraps = new AtomicInteger();

  /** The names of the threads unwraps ran on. */
  final Set<String> threads = ConcurrentHashMap.newKeySet();

  GatedKms(KmsProvider delegate) {
    this.delegate = delegate;
  }

  /** Lets every waiting and later unwrap through. */
  void open() {
    gate.countDown();
  }

  /** Waits (boundedly) until {@code n} unwraps have arrived at the gate since the last call. */
  void awaitArrivals(int n) throws InterruptedException {
    if (!arrived.tryAcquire(n, 60, TimeUnit.SECONDS)) {
      throw new AssertionError("fewer than " + n + " KMS unwraps arrived within 60 s");
    }
  }

  int unwraps() {
    return unwraps.get();
  }

  int maxInFlight() {
    return maxInFlight.get();
  }

  @Override
  public String scheme() {
    return delegate.scheme();
  }

  @Override
  public KmsUnwrapper unwrapper(URI cmkUri) {
    KmsUnwrapper u = delegate.unwrapper(cmkUri);
    return new KmsUnwrapper() {
      @Override
      public URI cmkUri() {
        return cmkUri;
      }

      @Override
      public byte[] unwrap(byte[] ciphertext, dev.keymanager.KeyContext context) {
        unwraps.incrementAndGet();
        threads.add(Thread.currentThread().getName());
        int now = inFlight.incrementAndGet();
        maxInFlight.accumulateAndGet(now, Math::max);
        arrived.release();
        try {
          if (!gate.await(60, TimeUnit.SECONDS)) {
            throw new AssertionError("the test never opened the KMS gate");
          }
          return u.unwrap(ciphertext, context);
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
          throw new dev.keymanager.KmsUnavailableException("interrupted at the gate", e);
        } finally {
          inFlight.decrementAndGet();
        }
      }
    };
  }

  @Override
  public Optional<KmsWrapper> wrapper(URI cmkUri) {
    return delegate.wrapper(cmkUri);
  }
}
