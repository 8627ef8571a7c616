package dev.keymanager.core.envelope;

import dev.keymanager.KeyManager;
import dev.keymanager.core.KeyManagers;
import dev.keymanager.core.store.KekStores;
import dev.keymanager.spi.KekStore;
import dev.keymanager.testkit.FakeKms;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.net.URI;
import java.time.Duration;
import java.time.Instant;
import java.time.InstantSource;
import java.util.Random;
import java.util.concurrent.atomic.AtomicReference;

/** A key manager on a {@link FakeKms} and an in-memory store, with a clock tests advance. */
final class Fixture implements AutoCloseable {
  static final URI CMK = FakeKms.cmk("envelope-tests");
  static final URI OTHER_CMK = FakeKms.cmk("envelope-tests-other");

  final FakeKms kms = new FakeKms();
  final KekStore store = KekStores.inMemory();
  final AtomicReference<Instant> now = new AtomicReference<>(Instant.parse("2026-01-01T00:00:00Z"));
  final InstantSource clock = now::get;
  final KeyManager keys = newKeyManager();

  KeyManager newKeyManager() {
    return KeyManagers.builder()
        .kekStore(store)
        .kmsProvider(kms)
        .discoverProviders(false)
        .hardTtl(Duration.ofMinutes(5))
        .clock(clock)
        .build();
  }

  void advance(Duration d) {
    now.updateAndGet(t -> t.plus(d));
  }

  static byte[] pattern(int length, long seed) {
    byte[] b = new byte[length];
    new Random(seed).nextBytes(b);
    return b;
  }

  /** Encrypts {@code plaintext} through the streaming API, written in uneven pieces. */
  static byte[] encryptStreaming(
      EnvelopeCipher cipher, byte[] plaintext, dev.keymanager.KeyContext c) throws IOException {
    ByteArrayOutputStream bytes = new ByteArrayOutputStream();
    try (OutputStream out = cipher.newEncryptingStream(bytes, c)) {
      int at = 0;
      int step = 1;
      while (at < plaintext.length) {
        int n = Math.min(step, plaintext.length - at);
        out.write(plaintext, at, n);
        at += n;
        step = step * 3 + 1;
      }
    }
    return bytes.toByteArray();
  }

  @Override
  public void close() {
    keys.close();
  }
}
