package dev.keymanager.core;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.keymanager.DataKey;
import dev.keymanager.KekState;
import dev.keymanager.KekStateException;
import dev.keymanager.KeyAccessDeniedException;
import dev.keymanager.KeyContext;
import dev.keymanager.KeyManager;
import dev.keymanager.KmsUnavailableException;
import dev.keymanager.WrappedKey;
import dev.keymanager.core.envelope.EnvelopeCipher;
import dev.keymanager.core.store.KekStores;
import dev.keymanager.spi.KekStore;
import dev.keymanager.testkit.FakeKms;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.lang.ref.WeakReference;
import java.lang.reflect.Field;
import java.net.URI;
import java.nio.ByteBuffer;
import java.nio.channels.Channels;
import java.nio.channels.SeekableByteChannel;
import java.nio.channels.WritableByteChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * Issue 14, proofs 1, 2 and 4: every kind of handle on a DEK (a held {@link DataKey}, one-shot
 * decrypts, decrypting streams, seekable channels, encrypting streams and channels) lives no longer
 * than its KEK. On a manual clock with steady use, the CMK is revoked at a random instant; no use
 * succeeds later than the hard TTL after the last successful KMS unwrap, a denial seen by a refresh
 * fails the next use, and lifecycle changes in this key manager fail the next use at once.
 */
class HandleRevocationTest {
  private static final URI CMK = FakeKms.cmk("handles");
  private static final KeyContext CONTEXT = KeyContext.of("table", "handles");
  private static final Duration TTL = Duration.ofMinutes(5);
  private static final int STEPS_PER_TTL = 100;
  private static final double STEP_FRACTION = 1.0 / STEPS_PER_TTL;
  private static final int TRIALS = 100;
  private static final int USE_BYTES = 100;
  private static final int SEGMENT = 4096;

  private final FakeKms kms = new FakeKms();
  private final MutableClock clock = new MutableClock();
  private final KekStore store = KekStores.inMemory();
  private final List<KeyManager> opened = new ArrayList<>();
  @TempDir Path dir;

  @AfterEach
  void closeAll() {
    opened.forEach(KeyManager::close);
  }

  private KeyManagers.Builder builder() {
    return KeyManagers.builder()
        .kekStore(store)
        .kmsProvider(kms)
        .discoverProviders(false)
        .hardTtl(TTL)
        .clock(clock);
  }

  private DefaultKeyManager open(KeyManagers.Builder builder) {
    DefaultKeyManager keys = (DefaultKeyManager) builder.build();
    opened.add(keys);
    return keys;
  }

  /** One open handle; {@link #use()} is one use of it (a lend, a decrypt, a read, a write). */
  interface Handle extends AutoCloseable {
    void use() throws IOException;

    @Override
    void close() throws IOException;
  }

  /** The payloads a kind reads, made once under its KEK by another key manager. */
  private record Payloads(byte[] oneShot, Path streaming, WrappedKey wrapped, int streamLength) {}

  enum Kind {
    DATA_KEY {
      @Override
      Handle open(KeyManager keys, Payloads p, Path dir) {
        DataKey dek = keys.unwrapDek(p.wrapped(), CONTEXT);
        return new Handle() {
          @Override
          public void use() {
            assertThat(lend(dek)).isEqualTo(32);
          }

          @Override
          public void close() {
            dek.close();
          }
        };
      }
    },
    ONE_SHOT_DECRYPT {
      @Override
      Handle open(KeyManager keys, Payloads p, Path dir) {
        EnvelopeCipher cipher = cipher(keys);
        assertThat(cipher.decrypt(p.oneShot(), CONTEXT)).hasSize(USE_BYTES); // warms the cache
        return new Handle() {
          @Override
          public void use() {
            assertThat(cipher.decrypt(p.oneShot(), CONTEXT)).hasSize(USE_BYTES);
          }

          @Override
          public void close() {}
        };
      }
    },
    DECRYPTING_STREAM {
      @Override
      Handle open(KeyManager keys, Payloads p, Path dir) throws IOException {
        InputStream in =
            cipher(keys).newDecryptingStream(Files.newInputStream(p.streaming()), CONTEXT);
        byte[] buf = new byte[USE_BYTES];
        return new Handle() {
          @Override
          public void use() throws IOException {
            assertThat(in.read(buf)).isPositive();
          }

          @Override
          public void close() throws IOException {
            in.close();
          }
        };
      }
    },
    SEEKABLE_CHANNEL {
      @Override
      Handle open(KeyManager keys, Payloads p, Path dir) throws IOException {
        SeekableByteChannel in =
            cipher(keys).newSeekableDecryptingChannel(Files.newByteChannel(p.streaming()), CONTEXT);
        Random random = new Random(7);
        return new Handle() {
          @Override
          public void use() throws IOException {
            ByteBuffer buf = ByteBuffer.allocate(USE_BYTES);
            in.position(random.nextInt(p.streamLength() - USE_BYTES));
            assertThat(in.read(buf)).isPositive();
          }

          @Override
          public void close() throws IOException {
            in.close();
          }
        };
      }
    },
    ENCRYPTING_STREAM {
      @Override
      Handle open(KeyManager keys, Payloads p, Path dir) throws IOException {
        OutputStream out = cipher(keys).newEncryptingStream(new ByteArrayOutputStream(), CONTEXT);
        byte[] data = new byte[USE_BYTES];
        return new Handle() {
          @Override
          public void use() throws IOException {
            out.write(data);
          }

          @Override
          public void close() throws IOException {
            out.close();
          }
        };
      }
    },
    ENCRYPTING_CHANNEL {
      @Override
      Handle open(KeyManager keys, Payloads p, Path dir) throws IOException {
        WritableByteChannel out =
            cipher(keys)
                .newEncryptingChannel(Channels.newChannel(new ByteArrayOutputStream()), CONTEXT);
        return new Handle() {
          @Override
          public void use() throws IOException {
            assertThat(out.write(ByteBuffer.allocate(USE_BYTES))).isEqualTo(USE_BYTES);
          }

          @Override
          public void close() throws IOException {
            out.close();
          }
        };
      }
    };

    abstract Handle open(KeyManager keys, Payloads p, Path dir) throws IOException;

    String kekId() {
      return "handles-" + name().toLowerCase(java.util.Locale.ROOT).replace('_', '-');
    }

    EnvelopeCipher cipher(KeyManager keys) {
      return EnvelopeCipher.builder(keys, kekId()).segmentSize(SEGMENT).build();
    }
  }

  /** Creates the kind's KEK and its payloads through a key manager of its own. */
  private Payloads payloads(Kind kind) throws IOException {
    int streamLength = 3 * STEPS_PER_TTL * USE_BYTES + USE_BYTES;
    Path file = dir.resolve(kind.kekId());
    try (KeyManager creator = builder().build()) {
      creator.admin().createKek(kind.kekId(), CMK);
      EnvelopeCipher cipher = kind.cipher(creator);
      byte[] oneShot = cipher.encrypt(new byte[USE_BYTES], CONTEXT);
      try (OutputStream out = cipher.newEncryptingStream(Files.newOutputStream(file), CONTEXT)) {
        out.write(new byte[streamLength]);
      }
      WrappedKey wrapped;
      try (DataKey dek = creator.generateDek(kind.kekId(), CONTEXT)) {
        wrapped = dek.wrappedKey();
      }
      return new Payloads(oneShot, file, wrapped, streamLength);
    }
  }

  // Proof 1, without refresh: no use succeeds later than one hard TTL after the last KMS unwrap.
  @ParameterizedTest
  @EnumSource(Kind.class)
  void aRevokedCmkStopsEveryHandleWithinTheHardTtlOfTheLastUnwrap(Kind kind) throws IOException {
    List<Double> latencies = revocationTrials(kind, Duration.ZERO);
    assertThat(latencies).hasSize(TRIALS).allMatch(f -> f >= 0 && f <= 1.0);
    report(kind + ", refresh off", latencies);
  }

  // Proof 1, with refresh-ahead: the first refresh after the revocation is denied, and the next
  // use fails.
  @ParameterizedTest
  @EnumSource(Kind.class)
  void aDenialSeenByARefreshFailsTheHandlesNextUse(Kind kind) throws IOException {
    List<Double> latencies = revocationTrials(kind, TTL.dividedBy(5));
    assertThat(latencies).hasSize(TRIALS).allMatch(f -> f >= 0 && f <= 0.8 + 2 * STEP_FRACTION);
    report(kind + ", refresh-ahead 0.2 TTL", latencies);
  }

  /**
   * Steady use (one per TTL/100) of one handle, opened cold, so its KEK is unwrapped through the
   * KMS; the CMK is disabled at a random step of the first two TTLs. Returns, per trial, the time
   * from revocation to the handle's first failure as a fraction of the TTL, after checking that
   * every failure is an access denial, that no use succeeds a hard TTL or more after the last
   * successful KMS unwrap, that a denied refresh fails the very next use, and that the failed
   * handle stays failed, even once the CMK is enabled again.
   */
  private List<Double> revocationTrials(Kind kind, Duration refreshAhead) throws IOException {
    Payloads payloads = payloads(kind);
    Random random = new Random(kind.ordinal() * 31L + refreshAhead.toSeconds());
    Duration step = TTL.dividedBy(STEPS_PER_TTL);
    List<Double> latencies = new ArrayList<>();
    for (int trial = 0; trial < TRIALS; trial++) {
      kms.enable(CMK);
      DefaultKeyManager keys =
          open(builder().refreshAhead(refreshAhead).negativeTtl(Duration.ZERO));
      long callsBefore = kms.unwrapCalls();
      Handle handle = kind.open(keys, payloads, dir);
      assertThat(kms.unwrapCalls()).as("opened cold").isGreaterThan(callsBefore);
      long lastKmsSuccess = clock.millis();
      int revokeAtStep = random.nextInt(2 * STEPS_PER_TTL);
      long revokedAt = -1;
      boolean refreshDenied = false;
      for (int s = 0; ; s++) {
        if (s == revokeAtStep) {
          kms.disable(CMK);
          revokedAt = clock.millis();
        }
        callsBefore = kms.unwrapCalls();
        try {
          handle.use();
          assertThat(refreshDenied).as("use after a denied refresh").isFalse();
          keys.awaitBackgroundLoads(); // a refresh this use started has finished
          if (kms.unwrapCalls() > callsBefore) {
            if (revokedAt < 0) {
              lastKmsSuccess = clock.millis(); // this use's load or refresh renewed the TTL
            } else {
              // The use succeeded, so its KMS call, denied, was a refresh in the background.
              refreshDenied = true;
            }
          }
          assertThat(clock.millis() - lastKmsSuccess)
              .as("use succeeded a hard TTL after the last KMS unwrap")
              .isLessThan(TTL.toMillis());
        } catch (KeyAccessDeniedException e) {
          assertThat(revokedAt).as("denied before the revocation").isNotNegative();
          latencies.add((clock.millis() - revokedAt) / (double) TTL.toMillis());
          break;
        }
        clock.advance(step);
      }
      // Proof 2: the failed handle stays failed once the CMK is back; a new one works.
      // (A one-shot decrypt is a fresh unwrap each time: nothing stays open to stay failed.)
      kms.enable(CMK);
      if (kind != Kind.ONE_SHOT_DECRYPT) {
        assertThatThrownBy(handle::use).isInstanceOf(KeyAccessDeniedException.class);
      }
      if (trial % 10 == 0) {
        try (Handle again = kind.open(keys, payloads, dir)) {
          again.use();
        }
        if (kind != Kind.ONE_SHOT_DECRYPT) {
          assertThatThrownBy(handle::use).isInstanceOf(KeyAccessDeniedException.class);
        }
      }
      handle.close(); // a failed handle closes quietly: its failure was reported
      keys.close();
      opened.remove(keys);
    }
    return latencies;
  }

  private static void report(String what, List<Double> latencies) {
    List<Double> sorted = new ArrayList<>(latencies);
    sorted.sort(null);
    System.out.printf(
        "revocation to first failure, %s: %d trials, latency/TTL min=%.3f median=%.3f p90=%.3f"
            + " max=%.3f%n",
        what,
        sorted.size(),
        sorted.get(0),
        sorted.get(sorted.size() / 2),
        sorted.get(sorted.size() * 9 / 10),
        sorted.get(sorted.size() - 1));
  }

  // Proof 1, lifecycle: disabling, retiring or scheduling destruction fails the next use at once.
  @ParameterizedTest
  @EnumSource(Kind.class)
  void aLifecycleChangeInThisKeyManagerFailsTheNextUseAtOnce(Kind kind) throws IOException {
    Payloads payloads = payloads(kind);
    DefaultKeyManager keys = open(builder().minimumDestructionWindow(Duration.ZERO));

    Handle disabled = kind.open(keys, payloads, dir);
    disabled.use();
    keys.admin().disableKek(kind.kekId());
    assertThatThrownBy(disabled::use)
        .isInstanceOf(KekStateException.class)
        .satisfies(e -> assertThat(((KekStateException) e).state()).contains(KekState.DISABLED));
    keys.admin().enableKek(kind.kekId());
    if (kind != Kind.ONE_SHOT_DECRYPT) {
      assertThatThrownBy(disabled::use).as("stays failed").isInstanceOf(KekStateException.class);
    }

    Handle destroyed = kind.open(keys, payloads, dir);
    destroyed.use();
    keys.admin().scheduleKekDestruction(kind.kekId(), Duration.ofDays(1));
    assertThatThrownBy(destroyed::use)
        .isInstanceOf(KekStateException.class)
        .satisfies(
            e ->
                assertThat(((KekStateException) e).state()).contains(KekState.PENDING_DESTRUCTION));
    clock.advance(Duration.ofDays(1));
    keys.admin().destroyKek(kind.kekId());
    assertThatThrownBy(destroyed::use).isInstanceOf(KekStateException.class);
    disabled.close();
    destroyed.close();
    assertThatThrownBy(() -> kind.open(keys, payloads, dir).use())
        .isInstanceOf(KekStateException.class)
        .satisfies(e -> assertThat(((KekStateException) e).state()).contains(KekState.DESTROYED));
  }

  @Test
  void aRetiredVersionFailsItsDataKeysAtOnce() {
    DefaultKeyManager keys = open(builder());
    keys.admin().createKek("retire", CMK);
    DataKey old = keys.generateDek("retire", CONTEXT);
    keys.admin().rotateKek("retire");
    lend(old);
    keys.admin().setMinimumDecryptionVersion("retire", 2);
    assertThatThrownBy(() -> lend(old))
        .isInstanceOf(KekStateException.class)
        .satisfies(e -> assertThat(((KekStateException) e).state()).contains(KekState.RETIRED));
  }

  @Test
  void anIdleKekIsUnwrappedAgainByTheNextUseOfAHandleAndAnOutageFailsItRetryably() {
    DefaultKeyManager keys = open(builder().refreshAhead(Duration.ZERO));
    keys.admin().createKek("idle", CMK);
    DataKey dek = keys.generateDek("idle", CONTEXT);
    DataKey other = keys.unwrapDek(dek.wrappedKey(), CONTEXT);
    clock.advance(TTL.plusSeconds(1)); // expired for lack of traffic
    long calls = kms.unwrapCalls();
    assertThat(lend(dek)).isEqualTo(32);
    assertThat(lend(other)).isEqualTo(32);
    assertThat(kms.unwrapCalls()).as("one re-unwrap serves both").isEqualTo(calls + 1);

    clock.advance(TTL.plusSeconds(1));
    kms.failAllCalls(true);
    assertThatThrownBy(() -> lend(dek))
        .isInstanceOf(KmsUnavailableException.class)
        .satisfies(e -> assertThat(((KmsUnavailableException) e).isRetryable()).isTrue());
    kms.failAllCalls(false);
    assertThatThrownBy(() -> lend(dek))
        .as("a failed handle stays failed")
        .isInstanceOf(KmsUnavailableException.class);
    assertThat(lend(other)).as("another handle recovers").isEqualTo(32);
  }

  @Test
  void closingTheKeyManagerFailsItsHandles() throws IOException {
    Payloads payloads = payloads(Kind.SEEKABLE_CHANNEL);
    DefaultKeyManager keys = open(builder());
    Handle channel = Kind.SEEKABLE_CHANNEL.open(keys, payloads, dir);
    DataKey dek = keys.unwrapDek(payloads.wrapped(), CONTEXT);
    keys.close();
    assertThatThrownBy(channel::use).isInstanceOf(IllegalStateException.class);
    assertThatThrownBy(() -> lend(dek))
        .isInstanceOf(IllegalStateException.class)
        .hasMessageContaining("closed");
    channel.close();
  }

  // Proof 4: a handle failed by revocation holds no reference to Tink's keyed state, and leaves its
  // ciphertext stream or channel open for close() to close.
  @Test
  void aFailedHandleDropsTinksStateAndLeavesItsCiphertextForCloseToClose() throws Exception {
    Payloads payloads = payloads(Kind.DECRYPTING_STREAM);
    DefaultKeyManager keys = open(builder().refreshAhead(Duration.ZERO).negativeTtl(Duration.ZERO));
    EnvelopeCipher cipher = Kind.DECRYPTING_STREAM.cipher(keys);

    byte[] streaming = Files.readAllBytes(payloads.streaming());
    TrackingInput source = new TrackingInput(streaming);
    InputStream stream = cipher.newDecryptingStream(source, CONTEXT);
    TrackingChannel channelSource = new TrackingChannel(payloads.streaming());
    SeekableByteChannel channel = cipher.newSeekableDecryptingChannel(channelSource, CONTEXT);
    ByteArrayOutputStream sink = new ByteArrayOutputStream();
    OutputStream encrypting = cipher.newEncryptingStream(sink, CONTEXT);
    ByteArrayOutputStream idleSink = new ByteArrayOutputStream();
    OutputStream idleEncrypting = cipher.newEncryptingStream(idleSink, CONTEXT);
    assertThat(stream.read(new byte[10])).isPositive();
    assertThat(channel.read(ByteBuffer.allocate(10))).isPositive();
    encrypting.write(new byte[10]);
    idleEncrypting.write(new byte[10]);

    List<WeakReference<Object>> tinkState = new ArrayList<>();
    tinkState.add(new WeakReference<>(field(stream, "tink")));
    tinkState.add(new WeakReference<>(field(channel, "tink")));
    tinkState.add(new WeakReference<>(field(field(encrypting, "handle"), "tink")));
    assertThat(tinkState).allMatch(r -> r.get() != null);

    kms.disable(CMK);
    clock.advance(TTL);
    assertThatThrownBy(() -> stream.read(new byte[10]))
        .isInstanceOf(KeyAccessDeniedException.class);
    assertThatThrownBy(() -> channel.read(ByteBuffer.allocate(10)))
        .isInstanceOf(KeyAccessDeniedException.class);
    assertThatThrownBy(() -> encrypting.write(1)).isInstanceOf(KeyAccessDeniedException.class);

    // Unreachable: the garbage collector clears every weak reference (bounded wait).
    long deadline = System.nanoTime() + Duration.ofSeconds(60).toNanos();
    while (tinkState.stream().anyMatch(r -> r.get() != null) && System.nanoTime() < deadline) {
      System.gc();
      Thread.onSpinWait();
    }
    assertThat(tinkState).as("Tink's keyed state is unreachable").allMatch(r -> r.get() == null);

    assertThat(source.closed).as("left open for the caller").isFalse();
    assertThat(channelSource.isOpen()).isTrue();
    assertThat(channel.isOpen()).isTrue();
    assertThatThrownBy(() -> channel.position(0)).isInstanceOf(KeyAccessDeniedException.class);
    int written = sink.size();
    int idleWritten = idleSink.size();
    stream.close();
    channel.close();
    encrypting.close(); // failed already: closes its ciphertext quietly
    // Still open, but its KEK may no longer be used: no last segment, and close() says why.
    assertThatThrownBy(idleEncrypting::close).isInstanceOf(KeyAccessDeniedException.class);
    assertThat(idleSink.size()).isEqualTo(idleWritten);
    assertThat(source.closed).isTrue();
    assertThat(channelSource.isOpen()).isFalse();
    assertThat(channel.isOpen()).isFalse();
    assertThat(sink.size()).as("no last segment written under a revoked KEK").isEqualTo(written);
  }

  private static int lend(DataKey dek) {
    return dek.<Integer>use(b -> b.length);
  }

  private static Object field(Object o, String name) throws ReflectiveOperationException {
    Class<?> c = o.getClass();
    while (c != null) {
      try {
        Field f = c.getDeclaredField(name);
        f.setAccessible(true);
        return f.get(o);
      } catch (NoSuchFieldException e) {
        c = c.getSuperclass();
      }
    }
    throw new NoSuchFieldException(name);
  }

  private static final class TrackingInput extends ByteArrayInputStream {
    boolean closed;

    TrackingInput(byte[] bytes) {
      super(bytes);
    }

    @Override
    public void close() {
      closed = true;
    }
  }

  private static final class TrackingChannel implements SeekableByteChannel {
    private final SeekableByteChannel file;

    TrackingChannel(Path path) throws IOException {
      this.file = Files.newByteChannel(path);
    }

    @Override
    public int read(ByteBuffer dst) throws IOException {
      return file.read(dst);
    }

    @Override
    public int write(ByteBuffer src) {
      throw new UnsupportedOperationException();
    }

    @Override
    public long position() throws IOException {
      return file.position();
    }

    @Override
    public SeekableByteChannel position(long p) throws IOException {
      file.position(p);
      return this;
    }

    @Override
    public long size() throws IOException {
      return file.size();
    }

    @Override
    public SeekableByteChannel truncate(long size) {
      throw new UnsupportedOperationException();
    }

    @Override
    public boolean isOpen() {
      return file.isOpen();
    }

    @Override
    public void close() throws IOException {
      file.close();
    }
  }
}
