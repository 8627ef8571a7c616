package dev.keymanager.bench;

import java.time.Duration;
import java.time.Instant;
import java.time.InstantSource;
import java.util.concurrent.atomic.AtomicLong;

/**
 * A clock the benchmark moves by hand, so a cached KEK can be made to expire before every operation
 * without sleeping through a TTL.
 */
final class ManualClock implements InstantSource {
  private final AtomicLong nanos =
      new AtomicLong(Instant.parse("2026-01-01T00:00:00Z").toEpochMilli() * 1_000_000L);

  void advance(Duration d) {
    nanos.addAndGet(d.toNanos());
  }

  @Override
  public Instant instant() {
    long n = nanos.get();
    return Instant.ofEpochSecond(0, n);
  }
}
