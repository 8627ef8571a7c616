package dev.keymanager.core.envelope;

import static java.util.Objects.requireNonNull;

import com.google.crypto.tink.subtle.AesGcmHkdfStreaming;
import dev.keymanager.DataKey;
import dev.keymanager.DataKeyService;
import dev.keymanager.InvalidCiphertextException;
import dev.keymanager.KekNotFoundException;
import dev.keymanager.KekRef;
import dev.keymanager.KekStateException;
import dev.keymanager.KeyContext;
import dev.keymanager.core.internal.Jca;
import dev.keymanager.core.internal.PrimaryVersions;
import dev.keymanager.internal.ApiBridge;
import dev.keymanager.internal.KekLiveness;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.channels.SeekableByteChannel;
import java.nio.channels.WritableByteChannel;
import java.security.GeneralSecurityException;
import java.time.Duration;
import java.util.function.LongSupplier;

/**
 * Encrypts payloads under one KEK, and decrypts them: byte arrays and buffers in one shot, files as
 * streams or with random access. Built on the data path alone ({@link DataKeyService}: a {@link
 * dev.keymanager.KeyManager} or its {@link dev.keymanager.KeyManager#dataPathOnly() dataPathOnly()}
 * view, so a component that encrypts needs no administration rights): a payload's header carries
 * its wrapped DEK, so decrypting needs only the bytes, the {@link KeyContext} and access to the
 * KEK.
 *
 * <pre>{@code
 * EnvelopeCipher orders = EnvelopeCipher.of(keys, "tenant-42");
 * KeyContext context = KeyContext.of("table", "orders");
 * byte[] ciphertext = orders.encrypt(record, context);
 * byte[] back = orders.decrypt(ciphertext, context);
 *
 * try (OutputStream out = orders.newEncryptingStream(Files.newOutputStream(path), context)) {
 *   out.write(page);                                  // 64 KiB segments, each authenticated
 * }
 * try (SeekableByteChannel in =
 *     orders.newSeekableDecryptingChannel(Files.newByteChannel(path), context)) {
 *   in.position(1 << 20).read(buffer);                // decrypts only the segments it touches
 * }
 * }</pre>
 *
 * <p>The formats are in the {@linkplain dev.keymanager.core.envelope package description}. Both
 * authenticate the whole header (the wrapped DEK, naming the KEK id and version) and the context's
 * canonical encoding together with the body; the context is also bound to the wrapped DEK.
 *
 * <p><b>Which KEK.</b> A cipher encrypts under its KEK's primary version and decrypts only payloads
 * under some version of that KEK id: a payload under another KEK is refused before any key is
 * touched, so one tenant's file cannot be passed off as another's. {@link #kekOf(byte[])} reads the
 * KEK of a payload without decrypting it, for callers who route by it.
 *
 * <p><b>Failures.</b> Besides what {@link DataKeyService#generateDek} and {@link
 * DataKeyService#unwrapDek} throw (KMS failures, {@link dev.keymanager.KeyAccessDeniedException}
 * for a revoked or deleted CMK), decryption raises:
 *
 * <ul>
 *   <li>{@link InvalidCiphertextException} "Invalid payload: ..." for malformed bytes (bad magic,
 *       unknown version or kind, truncated header, bad wrapped DEK), and "... encrypted under KEK b
 *       v1, but this cipher decrypts only KEK a" for another KEK;
 *   <li>{@link InvalidCiphertextException} "... its wrapped DEK did not authenticate ..." for
 *       another context (or an altered header, or a KEK of the same id from another store);
 *   <li>{@link InvalidCiphertextException} "... failed authentication ..." for an altered,
 *       truncated, extended or reordered body;
 *   <li>{@link KekStateException} (naming the KEK and its state) when the payload's KEK version is
 *       disabled or destroyed: a destroyed KEK makes its payloads unrecoverable.
 * </ul>
 *
 * Streams and channels raise these unchecked exceptions from {@code read}; an {@link IOException}
 * from them is always a failure of the underlying stream or channel. No method ever returns
 * plaintext that did not authenticate.
 *
 * <p><b>Segment size.</b> Streaming payloads are cut into segments of {@link #DEFAULT_SEGMENT_SIZE}
 * (64 KiB) ciphertext bytes unless {@link Builder#segmentSize(int)} says otherwise; the size is
 * recorded in the header, so readers need no configuration. A random read decrypts the whole
 * segment it touches: 64 KiB keeps a 4 KiB read to one 64 KiB decryption (measured at about twice
 * the cost of a 4 KiB segment and 13 times less than a 1 MiB one), while the 16-byte tag per
 * segment costs 0.025 % of space (0.39 % at 4 KiB) and an open channel holds 128 KiB of buffers
 * (README, "Payload envelope encryption").
 *
 * <p><b>JCA provider.</b> One-shot payloads run their AES-256-GCM on the provider the key manager
 * was built with ({@link dev.keymanager.core.KeyManagers.Builder#jcaProvider}), when {@code keys}
 * is a key manager {@code KeyManagers} built or its {@code dataPathOnly()} view; any other {@link
 * DataKeyService} implementation gets the JDK's provider list. Streaming payloads (streams and
 * channels) cannot take a provider: Tink's {@link AesGcmHkdfStreaming} gets its {@code
 * AES/GCM/NoPadding} cipher and {@code HmacSHA256} MAC (the per-payload HKDF) from Tink's {@code
 * EngineFactory}, which on a JVM asks the JDK's provider list in its configured order ({@code
 * Cipher.getInstance(String)}), or only Conscrypt when Tink's FIPS-only mode is on. To run streams
 * on another provider, install it ahead of the others ({@code Security.insertProviderAt(p, 1)}).
 * The DEK generation, wrap and unwrap behind both run on the key manager's provider.
 *
 * <p><b>DEK reuse (one-shot payloads).</b> A fresh DEK costs a random draw, a wrap under the KEK
 * and an AES key expansion, several times the AES-GCM work of a small payload, so one-shot payloads
 * share a DEK within bounds (as the AWS Encryption SDK's data-key cache does): a DEK encrypts the
 * one-shot payloads of one context under one KEK version while all of these hold, and the next
 * payload gets a new DEK as soon as one does not:
 *
 * <ul>
 *   <li>at most {@link Builder#maxPayloadsPerDek} payloads (default 2^20) and {@link
 *       Builder#maxBytesPerDek} plaintext bytes in all (default 4 GiB; a DEK's first payload is
 *       taken whatever its length);
 *   <li>younger than {@link Builder#maxDekAge} (default one minute); past it the DEK is overwritten
 *       by a timer whether or not it is used again;
 *   <li>the same {@link KeyContext} (each context has its own DEK; up to 16 are kept);
 *   <li>its KEK version is still the primary one, as far as the key manager knows: after {@code
 *       rotateKek} the next payload is under the new version, as with {@code generateDek};
 *   <li>its KEK version may still be used, checked before every payload exactly as every {@link
 *       DataKey} checks it: a disabled or destroyed KEK version, a CMK the KMS denies, or a cached
 *       KEK past its hard TTL stops the DEK at once; the payload then asks for a new DEK, which
 *       fails with the usual exception ({@link KekStateException}, {@link
 *       dev.keymanager.KeyAccessDeniedException}, ...). The DEK is never used again.
 * </ul>
 *
 * Each payload still carries the wrapped DEK in its header, so the format and decryption are those
 * of a DEK per payload. Nonces: the first payload of a DEK has a random 96-bit nonce, payload
 * {@code i} that nonce XOR {@code i}, so the nonces of one DEK never repeat (a reservation counter,
 * not chance) and payloads of different DEKs are independent. With random nonces NIST SP 800-38D
 * allows 2^32 messages per key; the default bound is 4,096 times below it and 2^32 as the largest
 * setting, and 4 GiB is 2^28 AES blocks, far below GCM's data limits. The cost of a bound is one
 * DEK generation per 2^20 payloads, per minute or per 4 GiB, whichever comes first. What reuse
 * trades: a leaked plaintext DEK exposes every payload it encrypted (up to the bound), not one.
 *
 * <p>Decryption keeps the unwrapped DEK of the last payloads it read (up to 16, each for {@link
 * Builder#maxDekAge}), keyed by the exact wrapped-DEK bytes and the context, so payloads that carry
 * the same wrapped DEK are unwrapped once; each use passes the same liveness check. A header whose
 * bytes differ in any way is unwrapped and authenticated as before. {@code maxPayloadsPerDek(1)}
 * turns all of this off: a DEK per payload, each decryption unwraps, and no DEK outlives a call.
 * Streaming payloads always have a DEK of their own.
 *
 * <p><b>Key material.</b> A kept DEK is a copy owned by this cipher, overwritten when its bound or
 * age is reached (the last payload in flight on it does it, so none runs on zeroed bytes); the
 * {@link DataKey} it came from is closed at once. One-shot payloads lend the DEK to the JCE without
 * a {@code SecretKeySpec} copy; the thread's cipher keeps the expanded key of its last payload
 * until its next one. Streaming payloads use Tink's {@link AesGcmHkdfStreaming}, which keeps copies
 * nobody outside Tink can overwrite: the DEK itself ({@code ikm}, for the life of the stream), the
 * HKDF pseudo-random key and the derived AES-256 key of the payload (in {@code SecretKeySpec}s),
 * and the JCE cipher's key schedule. The streams and channels returned here drop their reference to
 * Tink's state on {@code close()}, so those copies become garbage then; they are freed, not
 * overwritten. Close streams promptly.
 *
 * <p><b>Bounds.</b> One-shot payloads are below 2 GiB (Java arrays), streaming payloads below 2^31
 * segments (128 TiB at 64 KiB).
 *
 * <p>The stream and channel factories take ownership of the stream or channel they are given:
 * closing the result closes it, and if the factory throws, it has closed it already.
 *
 * <p>Instances are immutable and thread-safe; each stream or channel is for one thread at a time.
 */
public final class EnvelopeCipher {
  /** The default ciphertext segment size of streaming payloads: 64 KiB. */
  public static final int DEFAULT_SEGMENT_SIZE = 1 << 16;

  /** The smallest segment size: 4 KiB. */
  public static final int MIN_SEGMENT_SIZE = 1 << PayloadHeader.MIN_SEGMENT_LOG2;

  /** The largest segment size: 4 MiB. */
  public static final int MAX_SEGMENT_SIZE = 1 << PayloadHeader.MAX_SEGMENT_LOG2;

  /** The default bound on one-shot payloads per DEK: 2^20. */
  public static final long DEFAULT_MAX_PAYLOADS_PER_DEK = DekReuse.DEFAULT_MAX_PAYLOADS;

  /** The default bound on one-shot plaintext bytes per DEK: 4 GiB. */
  public static final long DEFAULT_MAX_BYTES_PER_DEK = DekReuse.DEFAULT_MAX_BYTES;

  /** The default bound on how long a DEK is kept for reuse: one minute. */
  public static final Duration DEFAULT_MAX_DEK_AGE =
      Duration.ofNanos(DekReuse.DEFAULT_MAX_AGE_NANOS);

  private final DataKeyService keys;
  private final String kekId;
  private final int segmentLog2;
  private final Jca jca;
  private final DekReuse reuse;

  private EnvelopeCipher(Builder b) {
    this.keys = b.keys;
    this.jca = Jca.usedBy(keys);
    this.kekId = b.kekId;
    this.segmentLog2 = b.segmentLog2;
    this.reuse =
        new DekReuse(
            b.maxPayloads,
            b.maxBytes,
            b.maxAge.toNanos(),
            b.ticker,
            b.scheduler,
            PrimaryVersions.of(keys));
  }

  /**
   * A cipher for the KEK {@code kekId} with the default segment size. Makes no call to {@code
   * keys}; the KEK need not exist yet.
   *
   * @throws IllegalArgumentException if the id is not a valid KEK id ({@link KekRef#checkId})
   */
  public static EnvelopeCipher of(DataKeyService keys, String kekId) {
    return builder(keys, kekId).build();
  }

  /**
   * A builder for a cipher for the KEK {@code kekId}.
   *
   * @throws IllegalArgumentException if the id is not a valid KEK id ({@link KekRef#checkId})
   */
  public static Builder builder(DataKeyService keys, String kekId) {
    return new Builder(requireNonNull(keys, "keys"), KekRef.checkId(kekId));
  }

  /** Configures an {@link EnvelopeCipher}. */
  public static final class Builder {
    private final DataKeyService keys;
    private final String kekId;
    private int segmentLog2 = Integer.numberOfTrailingZeros(DEFAULT_SEGMENT_SIZE);
    private long maxPayloads = DEFAULT_MAX_PAYLOADS_PER_DEK;
    private long maxBytes = DEFAULT_MAX_BYTES_PER_DEK;
    private Duration maxAge = DEFAULT_MAX_DEK_AGE;
    private LongSupplier ticker = System::nanoTime;
    private DekReuse.Scheduler scheduler = DekReuse.DELAYED;

    private Builder(DataKeyService keys, String kekId) {
      this.keys = keys;
      this.kekId = kekId;
    }

    /**
     * The ciphertext segment size of streaming payloads this cipher writes; default {@link
     * #DEFAULT_SEGMENT_SIZE} (64 KiB). Readers take the size from each payload's header.
     *
     * @throws IllegalArgumentException unless a power of two from {@link #MIN_SEGMENT_SIZE} to
     *     {@link #MAX_SEGMENT_SIZE}
     */
    public Builder segmentSize(int bytes) {
      if (Integer.bitCount(bytes) != 1 || bytes < MIN_SEGMENT_SIZE || bytes > MAX_SEGMENT_SIZE) {
        throw new IllegalArgumentException(
            "segment size must be a power of two from "
                + MIN_SEGMENT_SIZE
                + " to "
                + MAX_SEGMENT_SIZE
                + ": "
                + bytes);
      }
      this.segmentLog2 = Integer.numberOfTrailingZeros(bytes);
      return this;
    }

    /**
     * How many one-shot payloads one DEK may encrypt; default {@link #DEFAULT_MAX_PAYLOADS_PER_DEK}
     * (2^20). {@code 1} gives every payload its own DEK and keeps no DEK past a call, for
     * encryption or decryption. See "DEK reuse" in the class comment.
     *
     * @throws IllegalArgumentException unless from 1 to 2^32
     */
    public Builder maxPayloadsPerDek(long payloads) {
      if (payloads < 1 || payloads > 1L << 32) {
        throw new IllegalArgumentException(
            "payloads per DEK must be from 1 to 2^32 (the bound of random GCM nonces): "
                + payloads);
      }
      this.maxPayloads = payloads;
      return this;
    }

    /**
     * How many one-shot plaintext bytes one DEK may encrypt in all; default {@link
     * #DEFAULT_MAX_BYTES_PER_DEK} (4 GiB). A DEK's first payload is taken whatever its length.
     *
     * @throws IllegalArgumentException unless from 1 to 2^36
     */
    public Builder maxBytesPerDek(long bytes) {
      if (bytes < 1 || bytes > 1L << 36) {
        throw new IllegalArgumentException("bytes per DEK must be from 1 to 2^36: " + bytes);
      }
      this.maxBytes = bytes;
      return this;
    }

    /**
     * How long a DEK is kept for reuse after it was generated or unwrapped; default {@link
     * #DEFAULT_MAX_DEK_AGE} (one minute). Past it the DEK is overwritten, used or not.
     *
     * @throws IllegalArgumentException unless positive and at most one day
     */
    public Builder maxDekAge(Duration age) {
      requireNonNull(age, "age");
      if (age.isNegative() || age.isZero() || age.compareTo(Duration.ofDays(1)) > 0) {
        throw new IllegalArgumentException("DEK age must be positive and at most a day: " + age);
      }
      this.maxAge = age;
      return this;
    }

    /** Tests: the clock of the age bound and the timer of the sweep. */
    Builder clock(LongSupplier ticker, DekReuse.Scheduler scheduler) {
      this.ticker = requireNonNull(ticker, "ticker");
      this.scheduler = requireNonNull(scheduler, "scheduler");
      return this;
    }

    public EnvelopeCipher build() {
      return new EnvelopeCipher(this);
    }
  }

  /** The KEK this cipher encrypts under and accepts when decrypting. */
  public String kekId() {
    return kekId;
  }

  /** The ciphertext segment size of the streaming payloads this cipher writes. */
  public int segmentSize() {
    return 1 << segmentLog2;
  }

  /**
   * The KEK id and version a payload is encrypted under, read from its header without decrypting
   * anything. {@code payloadStart} may be the whole payload or any prefix holding the header (1042
   * bytes always suffice).
   *
   * @throws InvalidCiphertextException if the bytes do not start with a well-formed header
   */
  public static KekRef kekOf(byte[] payloadStart) {
    requireNonNull(payloadStart, "payloadStart");
    return PayloadHeader.parse(payloadStart, 0, payloadStart.length).wrappedKey().kek();
  }

  // ---- one-shot ----

  /**
   * Encrypts {@code plaintext} under this cipher's KEK, bound to {@code context}: under the DEK the
   * last payloads of this context used, while it is within its bounds, else under a new DEK (see
   * "DEK reuse" above). The result holds the header and the AES-256-GCM body: 135 bytes plus the
   * KEK id's UTF-8 length longer than the plaintext.
   *
   * @throws KekStateException if the KEK does not exist or its primary version is not enabled
   */
  public byte[] encrypt(byte[] plaintext, KeyContext context) {
    requireNonNull(plaintext, "plaintext");
    requireNonNull(context, "context");
    byte[] c = ApiBridge.contextEncoding(context);
    return reuse.encrypt(
        c,
        plaintext.length,
        () -> newDek(context),
        (key, header, n) -> OneShot.encrypt(jca, key, header, n, plaintext, c));
  }

  /**
   * Encrypts the remaining bytes of {@code plaintext} (its position moves to its limit) into a new
   * heap buffer, ready to read, in the format of {@link #encrypt(byte[], KeyContext)}.
   *
   * @throws KekStateException if the KEK does not exist or its primary version is not enabled
   */
  public ByteBuffer encrypt(ByteBuffer plaintext, KeyContext context) {
    requireNonNull(plaintext, "plaintext");
    requireNonNull(context, "context");
    byte[] c = ApiBridge.contextEncoding(context);
    return reuse.encrypt(
        c,
        plaintext.remaining(),
        () -> newDek(context),
        (key, header, n) -> OneShot.encrypt(jca, key, header, n, plaintext, c));
  }

  /** A new DEK for one-shot payloads: its own copy of the key, its header with a random nonce. */
  private ReusedDek newDek(KeyContext context) {
    try (DataKey dek = keys.generateDek(kekId, context)) {
      byte[] header = PayloadHeader.oneShot(dek.wrappedKey()).bytes();
      return reuse.newEncrypting(
          dek.use(byte[]::clone),
          ApiBridge.liveness(dek),
          dek.wrappedKey().kek(),
          ApiBridge.contextEncoding(context),
          header);
    }
  }

  /**
   * Decrypts a one-shot payload.
   *
   * @throws InvalidCiphertextException if the bytes are malformed, under another KEK, presented
   *     with another context, or altered (see the class comment for each message)
   * @throws KekStateException if the payload's KEK version is disabled or destroyed
   */
  public byte[] decrypt(byte[] ciphertext, KeyContext context) {
    requireNonNull(ciphertext, "ciphertext");
    requireNonNull(context, "context");
    byte[] c = ApiBridge.contextEncoding(context);
    int end = ciphertext.length;
    ReusedDek kept = kept(ciphertext, end, c);
    if (kept != null) {
      try {
        return OneShot.decrypt(
            jca, kept.key(), kept.kek(), ciphertext, keptHeaderLength(ciphertext), end, c);
      } finally {
        kept.release();
      }
    }
    PayloadHeader header = oneShotHeader(ciphertext, end);
    try (DataKey dek = unwrap(header, context)) {
      byte[] plaintext =
          dek.use(
              key ->
                  OneShot.decrypt(
                      jca, key, header.wrappedKey().kek(), ciphertext, header.length(), end, c));
      remember(dek, header, c);
      return plaintext;
    }
  }

  /**
   * Decrypts the remaining bytes of {@code ciphertext}, a one-shot payload, into a new heap buffer,
   * ready to read. On success the buffer's position moves to its limit; on failure it is unchanged.
   *
   * @throws InvalidCiphertextException as {@link #decrypt(byte[], KeyContext)}
   * @throws KekStateException if the payload's KEK version is disabled or destroyed
   */
  public ByteBuffer decrypt(ByteBuffer ciphertext, KeyContext context) {
    requireNonNull(ciphertext, "ciphertext");
    requireNonNull(context, "context");
    byte[] c = ApiBridge.contextEncoding(context);
    ByteBuffer in = ciphertext.duplicate();
    byte[] start = new byte[Math.min(in.remaining(), PayloadHeader.MAX_LENGTH)];
    in.get(start);
    ByteBuffer plaintext;
    ReusedDek kept = kept(start, ciphertext.remaining(), c);
    if (kept != null) {
      try {
        int h = keptHeaderLength(start);
        in.position(ciphertext.position() + h);
        plaintext = OneShot.decrypt(jca, kept.key(), kept.kek(), start, h, in, c);
      } finally {
        kept.release();
      }
    } else {
      PayloadHeader header = oneShotHeader(start, ciphertext.remaining());
      in.position(ciphertext.position() + header.length());
      try (DataKey dek = unwrap(header, context)) {
        plaintext =
            dek.use(
                key ->
                    OneShot.decrypt(
                        jca,
                        key,
                        header.wrappedKey().kek(),
                        header.bytes(),
                        header.length(),
                        in,
                        c));
        remember(dek, header, c);
      }
    }
    ciphertext.position(ciphertext.limit());
    return plaintext;
  }

  /**
   * The kept DEK for the payload starting at {@code b} ({@code totalLength} bytes long), retained,
   * if its header frames a wrapped DEK this cipher unwrapped under this context within the bounds;
   * else null.
   */
  private ReusedDek kept(byte[] b, int totalLength, byte[] context) {
    int h = PayloadHeader.oneShotLength(b, Math.min(b.length, totalLength));
    if (h < 0) {
      return null;
    }
    return reuse.decrypting(b, PayloadHeader.FIXED_LENGTH, h - PayloadHeader.NONCE_LENGTH, context);
  }

  private static int keptHeaderLength(byte[] b) {
    return PayloadHeader.oneShotLength(b, b.length);
  }

  /** Keeps the DEK of a payload that decrypted, for later payloads carrying the same one. */
  private void remember(DataKey dek, PayloadHeader header, byte[] context) {
    if (reuse.remembers()) {
      reuse.remember(
          dek.use(byte[]::clone),
          ApiBridge.liveness(dek),
          header.wrappedKey().kek(),
          context,
          ApiBridge.wrappedKeys().encoding(header.wrappedKey()));
    }
  }

  /**
   * The header at the start of {@code b}, the first bytes of a payload {@code totalLength} long.
   */
  private static PayloadHeader oneShotHeader(byte[] b, int totalLength) {
    PayloadHeader header = PayloadHeader.parse(b, 0, Math.min(b.length, totalLength));
    if (header.kind() != PayloadHeader.Kind.ONE_SHOT) {
      throw PayloadHeader.invalid(
          "this is a streaming payload; read it with newDecryptingStream or"
              + " newSeekableDecryptingChannel");
    }
    if (totalLength - header.length() < OneShot.TAG_LENGTH) {
      throw PayloadHeader.invalid(
          "truncated one-shot payload under KEK "
              + header.wrappedKey().kek()
              + ": "
              + (totalLength - header.length())
              + " body bytes, need at least "
              + OneShot.TAG_LENGTH);
    }
    return header;
  }

  // ---- streaming ----

  /**
   * An output stream that encrypts what is written to it into {@code ciphertext}, in segments,
   * under a new DEK; the header is written before this method returns. Closing the returned stream
   * writes the last segment and closes {@code ciphertext}: a payload that was not closed does not
   * decrypt (it reads as truncated).
   *
   * @throws IOException if writing the header fails
   * @throws KekStateException if the KEK does not exist or its primary version is not enabled
   */
  public OutputStream newEncryptingStream(OutputStream ciphertext, KeyContext context)
      throws IOException {
    requireNonNull(ciphertext, "ciphertext");
    requireNonNull(context, "context");
    return closingOnFailure(ciphertext, () -> encryptingStream(ciphertext, context));
  }

  private OutputStream encryptingStream(OutputStream ciphertext, KeyContext context)
      throws IOException {
    try (DataKey dek = keys.generateDek(kekId, context)) {
      PayloadHeader header = PayloadHeader.streaming(dek.wrappedKey(), segmentLog2);
      AesGcmHkdfStreaming tink = Streaming.primitive(dek, header);
      ciphertext.write(header.bytes());
      return new EncryptingStreams.Stream(
          tink.newEncryptingStream(ciphertext, header.associatedData(context)),
          ciphertext,
          ApiBridge.liveness(dek),
          header.segmentSize());
    } catch (GeneralSecurityException e) {
      throw new IllegalStateException("Tink could not start an encrypting stream", e);
    }
  }

  /**
   * A channel that encrypts what is written to it into {@code ciphertext}, which must be blocking,
   * in the format of {@link #newEncryptingStream}. Closing it writes the last segment and closes
   * {@code ciphertext}.
   *
   * @throws IOException if writing the header fails
   * @throws KekStateException if the KEK does not exist or its primary version is not enabled
   */
  public WritableByteChannel newEncryptingChannel(
      WritableByteChannel ciphertext, KeyContext context) throws IOException {
    requireNonNull(ciphertext, "ciphertext");
    requireNonNull(context, "context");
    return closingOnFailure(ciphertext, () -> encryptingChannel(ciphertext, context));
  }

  private WritableByteChannel encryptingChannel(WritableByteChannel ciphertext, KeyContext context)
      throws IOException {
    try (DataKey dek = keys.generateDek(kekId, context)) {
      PayloadHeader header = PayloadHeader.streaming(dek.wrappedKey(), segmentLog2);
      AesGcmHkdfStreaming tink = Streaming.primitive(dek, header);
      EncryptingStreams.writeFully(ciphertext, ByteBuffer.wrap(header.bytes()));
      return new EncryptingStreams.Channel(
          tink.newEncryptingChannel(ciphertext, header.associatedData(context)),
          ciphertext,
          ApiBridge.liveness(dek),
          header.segmentSize());
    } catch (GeneralSecurityException e) {
      throw new IllegalStateException("Tink could not start an encrypting channel", e);
    }
  }

  /**
   * An input stream of the plaintext of the streaming payload read from {@code ciphertext}. The
   * header is read and the DEK unwrapped before this method returns, so a wrong context or KEK
   * fails here; altered, reordered, truncated or extended segments fail in {@code read} with {@link
   * InvalidCiphertextException}, before any byte of the failing segment is returned. Closing the
   * returned stream closes {@code ciphertext}.
   *
   * @throws IOException if reading {@code ciphertext} fails
   * @throws InvalidCiphertextException if the header is malformed, names another KEK, or does not
   *     authenticate with {@code context}
   * @throws KekStateException if the payload's KEK version is disabled or destroyed
   */
  public InputStream newDecryptingStream(InputStream ciphertext, KeyContext context)
      throws IOException {
    requireNonNull(ciphertext, "ciphertext");
    requireNonNull(context, "context");
    return closingOnFailure(ciphertext, () -> decryptingStream(ciphertext, context));
  }

  private InputStream decryptingStream(InputStream ciphertext, KeyContext context)
      throws IOException {
    SourceTracking.Stream source = new SourceTracking.Stream(ciphertext);
    PayloadHeader header = streamingHeader(PayloadHeader.read(source));
    try (DataKey dek = unwrap(header, context)) {
      AesGcmHkdfStreaming tink = Streaming.primitive(dek, header);
      return new DecryptingStream(
          tink.newDecryptingStream(source, header.associatedData(context)),
          source,
          header.wrappedKey().kek(),
          ApiBridge.liveness(dek),
          header.segmentSize());
    } catch (GeneralSecurityException e) {
      throw new IllegalStateException("Tink could not start a decrypting stream", e);
    }
  }

  /**
   * A read-only channel with random access to the plaintext of the streaming payload in {@code
   * ciphertext} (typically a {@link java.nio.channels.FileChannel}), whose size must not change
   * while it is open. Opening reads the header, unwraps the DEK and authenticates the last segment,
   * so {@code size()} is trusted and a truncated or extended payload fails here; each {@code read}
   * decrypts and authenticates the segments it touches. Closing it closes {@code ciphertext}.
   *
   * @throws IOException if reading {@code ciphertext} fails
   * @throws InvalidCiphertextException if the header is malformed, names another KEK, does not
   *     authenticate with {@code context}, or the payload was truncated, extended or its last
   *     segment altered
   * @throws KekStateException if the payload's KEK version is disabled or destroyed
   */
  public SeekableByteChannel newSeekableDecryptingChannel(
      SeekableByteChannel ciphertext, KeyContext context) throws IOException {
    requireNonNull(ciphertext, "ciphertext");
    requireNonNull(context, "context");
    return closingOnFailure(ciphertext, () -> seekableChannel(ciphertext, context));
  }

  private SeekableByteChannel seekableChannel(SeekableByteChannel ciphertext, KeyContext context)
      throws IOException {
    SourceTracking.Channel source = new SourceTracking.Channel(ciphertext);
    PayloadHeader header = streamingHeader(PayloadHeader.read(source));
    SeekableByteChannel tinkChannel;
    KekLiveness liveness;
    try (DataKey dek = unwrap(header, context)) {
      liveness = ApiBridge.liveness(dek);
      AesGcmHkdfStreaming tink = Streaming.primitive(dek, header);
      tinkChannel = tink.newSeekableDecryptingChannel(source, header.associatedData(context));
    } catch (IOException e) {
      if (source.failed()) {
        throw e;
      }
      // Tink checks the ciphertext size against the segment layout when it opens the channel.
      throw PayloadHeader.invalid(
          "streaming payload under KEK "
              + header.wrappedKey().kek()
              + " has an impossible length for its segment size: truncated or extended");
    } catch (GeneralSecurityException e) {
      throw new IllegalStateException("Tink could not open a seekable channel", e);
    }
    return DecryptingChannel.open(
        tinkChannel, source, header.wrappedKey().kek(), liveness, header.segmentSize());
  }

  /** Opens with {@code opener}; if it throws, closes {@code resource} first. */
  private static <T> T closingOnFailure(AutoCloseable resource, IoOpener<T> opener)
      throws IOException {
    try {
      return opener.open();
    } catch (IOException | RuntimeException e) {
      try {
        resource.close();
      } catch (Exception suppressed) {
        e.addSuppressed(suppressed);
      }
      throw e;
    }
  }

  @FunctionalInterface
  private interface IoOpener<T> {
    T open() throws IOException;
  }

  private static PayloadHeader streamingHeader(PayloadHeader header) {
    if (header.kind() != PayloadHeader.Kind.STREAMING) {
      throw PayloadHeader.invalid(
          "this is a one-shot payload; decrypt it with decrypt(byte[], KeyContext)");
    }
    return header;
  }

  // ---- DEKs ----

  /**
   * Unwraps the payload's DEK after checking that it is under this cipher's KEK, giving each
   * failure its own message.
   */
  private DataKey unwrap(PayloadHeader header, KeyContext context) {
    KekRef kek = header.wrappedKey().kek();
    if (!kek.id().equals(kekId)) {
      throw new InvalidCiphertextException(
          "Payload is encrypted under KEK "
              + kek
              + ", but this cipher decrypts only KEK "
              + kekId
              + ": wrong KEK (use a cipher for "
              + kek.id()
              + " if that payload is meant to be read here)");
    }
    DataKey dek;
    try {
      dek = keys.unwrapDek(header.wrappedKey(), context);
    } catch (InvalidCiphertextException e) {
      if (e.getCause() instanceof KekStateException) {
        throw new InvalidCiphertextException(
            "Payload names KEK "
                + kek
                + ", a version this key store does not hold: the header is corrupt or the"
                + " payload comes from another store",
            e);
      }
      throw new InvalidCiphertextException(
          "Payload under KEK "
              + kek
              + ": its wrapped DEK did not authenticate. The key context differs from the one it"
              + " was encrypted with, the header was altered, or this store's KEK "
              + kek.id()
              + " is not the one it was made with",
          e);
    } catch (KekNotFoundException e) {
      if (e.version().isPresent()) {
        throw new InvalidCiphertextException(
            "Payload names KEK "
                + kek
                + ", a version this key store does not hold: the header is corrupt or the"
                + " payload comes from another store",
            e);
      }
      throw e;
    }
    if (dek.length() != Streaming.KEY_LENGTH) {
      int length = dek.length();
      dek.close();
      throw new InvalidCiphertextException(
          "Payload under KEK " + kek + " carries a " + length + "-byte DEK; expected 32");
    }
    return dek;
  }

  @Override
  public String toString() {
    return "EnvelopeCipher[KEK " + kekId + ", " + segmentSize() + "-byte segments]";
  }
}
