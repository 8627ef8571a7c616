package dev.keymanager.core.envelope;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.keymanager.InvalidCiphertextException;
import dev.keymanager.KekRef;
import dev.keymanager.KekState;
import dev.keymanager.KekStateException;
import dev.keymanager.KeyAccessDeniedException;
import dev.keymanager.KeyContext;
import dev.keymanager.KeyEncryptionKey;
import dev.keymanager.KeyManager;
import dev.keymanager.WrappedKey;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.Arrays;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

class OneShotEnvelopeTest {
  private static final KeyContext CONTEXT = KeyContext.of("table", "orders");

  private final Fixture f = new Fixture();
  private EnvelopeCipher cipher;

  @BeforeEach
  void createKek() {
    f.keys.admin().createKek("tenant-42", Fixture.CMK);
    cipher = EnvelopeCipher.of(f.keys, "tenant-42");
  }

  @AfterEach
  void close() {
    f.close();
  }

  @Test
  void byteArraysRoundTripAndNoTwoPayloadsMatch() {
    for (int length : new int[] {0, 1, 15, 16, 17, 4096, 100_000}) {
      byte[] plaintext = Fixture.pattern(length, length);

      byte[] first = cipher.encrypt(plaintext, CONTEXT);
      byte[] second = cipher.encrypt(plaintext, CONTEXT);

      assertThat(cipher.decrypt(first, CONTEXT)).isEqualTo(plaintext);
      assertThat(cipher.decrypt(second, CONTEXT)).isEqualTo(plaintext);
      // Different nonces (under a shared DEK) and so different bodies.
      assertThat(EnvelopeCipher.kekOf(first)).isEqualTo(EnvelopeCipher.kekOf(second));
      assertThat(Arrays.copyOfRange(first, 6, first.length))
          .isNotEqualTo(Arrays.copyOfRange(second, 6, second.length));
    }
  }

  @Test
  void theHeaderCarriesTheWrappedDekAndTheOverheadIsFixed() {
    byte[] plaintext = Fixture.pattern(1000, 1);

    byte[] ciphertext = cipher.encrypt(plaintext, CONTEXT);

    assertThat(ciphertext).startsWith(0x4B, 0x45, 1, 1);
    int w = ((ciphertext[4] & 0xFF) << 8) | (ciphertext[5] & 0xFF);
    WrappedKey wrapped = WrappedKey.decode(Arrays.copyOfRange(ciphertext, 6, 6 + w));
    assertThat(wrapped.kek()).isEqualTo(new KekRef("tenant-42", 1));
    assertThat(ciphertext).hasSize(6 + w + 12 + plaintext.length + 16);
    assertThat(EnvelopeCipher.kekOf(ciphertext)).isEqualTo(new KekRef("tenant-42", 1));
    assertThat(EnvelopeCipher.kekOf(Arrays.copyOf(ciphertext, 6 + w + 12)))
        .isEqualTo(new KekRef("tenant-42", 1));
  }

  @Test
  void byteBuffersRoundTripHeapAndDirect() {
    byte[] plaintext = Fixture.pattern(5000, 2);
    ByteBuffer direct = ByteBuffer.allocateDirect(plaintext.length + 10);
    direct.position(10);
    direct.put(plaintext).flip().position(10);

    ByteBuffer ciphertext = cipher.encrypt(direct, CONTEXT);

    assertThat(direct.hasRemaining()).isFalse();
    byte[] asArray = new byte[ciphertext.remaining()];
    ciphertext.duplicate().get(asArray);
    assertThat(cipher.decrypt(asArray, CONTEXT)).isEqualTo(plaintext);

    ByteBuffer offsetInput = ByteBuffer.allocateDirect(asArray.length + 3);
    offsetInput.put(new byte[] {9, 9, 9}).put(asArray).flip().position(3);
    ByteBuffer back = cipher.decrypt(offsetInput, CONTEXT);
    assertThat(offsetInput.hasRemaining()).isFalse();
    byte[] out = new byte[back.remaining()];
    back.get(out);
    assertThat(out).isEqualTo(plaintext);
    assertThat(
            cipher
                .decrypt(ByteBuffer.wrap(cipher.encrypt(new byte[0], CONTEXT)), CONTEXT)
                .remaining())
        .isZero();
  }

  @Test
  void aFailedBufferDecryptLeavesThePositionAlone() {
    ByteBuffer ciphertext = ByteBuffer.wrap(cipher.encrypt(Fixture.pattern(64, 3), CONTEXT));
    ciphertext.put(ciphertext.limit() - 1, (byte) (ciphertext.get(ciphertext.limit() - 1) ^ 1));

    assertThatThrownBy(() -> cipher.decrypt(ciphertext, CONTEXT))
        .isInstanceOf(InvalidCiphertextException.class);
    assertThat(ciphertext.position()).isZero();
  }

  @Test
  void wrongContextIsRefusedWithItsOwnMessage() {
    byte[] ciphertext = cipher.encrypt(Fixture.pattern(100, 4), CONTEXT);

    assertThatThrownBy(() -> cipher.decrypt(ciphertext, KeyContext.of("table", "invoices")))
        .isInstanceOf(InvalidCiphertextException.class)
        .hasMessageContaining("tenant-42 v1")
        .hasMessageContaining("wrapped DEK did not authenticate")
        .hasMessageContaining("key context differs");
    assertThatThrownBy(() -> cipher.decrypt(ciphertext, KeyContext.empty()))
        .isInstanceOf(InvalidCiphertextException.class)
        .hasMessageContaining("key context differs");
  }

  @Test
  void aPayloadUnderAnotherKekIsRefusedAsTheWrongKek() {
    f.keys.admin().createKek("tenant-43", Fixture.OTHER_CMK);
    EnvelopeCipher theirCipher = EnvelopeCipher.of(f.keys, "tenant-43");
    byte[] theirs = theirCipher.encrypt(new byte[10], CONTEXT);

    assertThatThrownBy(() -> cipher.decrypt(theirs, CONTEXT))
        .isInstanceOf(InvalidCiphertextException.class)
        .hasMessage(
            "Payload is encrypted under KEK tenant-43 v1, but this cipher decrypts only KEK"
                + " tenant-42: wrong KEK (use a cipher for tenant-43 if that payload is meant to"
                + " be read here)");
    assertThat(theirCipher.decrypt(theirs, CONTEXT)).hasSize(10);
  }

  @Test
  void aKekOfTheSameIdFromAnotherStoreDoesNotAuthenticate() {
    byte[] ciphertext = cipher.encrypt(Fixture.pattern(100, 5), CONTEXT);
    try (Fixture elsewhere = new Fixture()) {
      elsewhere.keys.admin().createKek("tenant-42", Fixture.CMK);

      assertThatThrownBy(
              () -> EnvelopeCipher.of(elsewhere.keys, "tenant-42").decrypt(ciphertext, CONTEXT))
          .isInstanceOf(InvalidCiphertextException.class)
          .hasMessageContaining("is not the one it was made with");
    }
  }

  @Test
  void aPayloadNamingAVersionTheStoreLacksIsInvalid() {
    byte[] ciphertext = cipher.encrypt(Fixture.pattern(100, 6), CONTEXT);
    int versionOffset = 6 + 5 + "tenant-42".length();
    ciphertext[versionOffset + 3] = 9; // v1 -> v9

    assertThatThrownBy(() -> cipher.decrypt(ciphertext, CONTEXT))
        .isInstanceOf(InvalidCiphertextException.class)
        .hasMessageContaining("Payload names KEK tenant-42 v9")
        .hasMessageContaining("does not hold");
  }

  @Test
  void aDestroyedKekMakesItsPayloadsUnrecoverable() {
    byte[] ciphertext = cipher.encrypt(Fixture.pattern(100, 7), CONTEXT);
    KeyEncryptionKey record = f.store.find("tenant-42", 1).orElseThrow();
    // What the lifecycle's destroy does to the record, written through the store SPI.
    f.store.compareAndSet(
        record.revision(),
        record.toBuilder()
            .state(KekState.DESTROYED)
            .wrappedMaterial(new byte[0])
            .revision(record.revision() + 1)
            .build());

    try (KeyManager restarted = f.newKeyManager()) {
      assertThatThrownBy(
              () -> EnvelopeCipher.of(restarted, "tenant-42").decrypt(ciphertext, CONTEXT))
          .isInstanceOf(KekStateException.class)
          .hasMessageContaining("tenant-42 v1")
          .hasMessageContaining("DESTROYED")
          .satisfies(e -> assertThat(((KekStateException) e).state()).contains(KekState.DESTROYED));
    }
  }

  @Test
  void aDeletedCmkDeniesAccessOnceTheCachedKekExpires() {
    byte[] ciphertext = cipher.encrypt(Fixture.pattern(100, 8), CONTEXT);
    f.kms.delete(Fixture.CMK);

    assertThat(cipher.decrypt(ciphertext, CONTEXT)).hasSize(100); // cached KEK, within the bound
    f.advance(Duration.ofMinutes(6));
    assertThatThrownBy(() -> cipher.decrypt(ciphertext, CONTEXT))
        .isInstanceOf(KeyAccessDeniedException.class)
        .hasMessageContaining(Fixture.CMK.toString());
  }

  @Test
  void everySingleBitFlipIsDetected() {
    byte[] ciphertext = cipher.encrypt(Fixture.pattern(24, 9), CONTEXT);
    for (int i = 0; i < ciphertext.length * 8; i++) {
      byte[] flipped = ciphertext.clone();
      flipped[i / 8] ^= (byte) (1 << (i % 8));

      assertThatThrownBy(() -> cipher.decrypt(flipped, CONTEXT))
          .as("bit %d", i)
          .isInstanceOf(InvalidCiphertextException.class);
    }
  }

  @Test
  void corruptBodyTruncationAndAppendedBytesEachSaySo() {
    byte[] ciphertext = cipher.encrypt(Fixture.pattern(100, 10), CONTEXT);
    byte[] corrupt = ciphertext.clone();
    corrupt[corrupt.length - 40] ^= 0x10;

    assertThatThrownBy(() -> cipher.decrypt(corrupt, CONTEXT))
        .isInstanceOf(InvalidCiphertextException.class)
        .hasMessage(
            "Payload under KEK tenant-42 v1 failed authentication: its body or nonce was altered,"
                + " truncated or extended");
    assertThatThrownBy(
            () -> cipher.decrypt(Arrays.copyOf(ciphertext, ciphertext.length - 1), CONTEXT))
        .isInstanceOf(InvalidCiphertextException.class)
        .hasMessageContaining("failed authentication");
    assertThatThrownBy(
            () -> cipher.decrypt(Arrays.copyOf(ciphertext, ciphertext.length + 1), CONTEXT))
        .isInstanceOf(InvalidCiphertextException.class)
        .hasMessageContaining("failed authentication");
    int headerLength = ciphertext.length - 100 - 16;
    assertThatThrownBy(() -> cipher.decrypt(Arrays.copyOf(ciphertext, headerLength + 15), CONTEXT))
        .isInstanceOf(InvalidCiphertextException.class)
        .hasMessageContaining("truncated one-shot payload");
  }

  @Test
  void malformedHeadersNameWhatIsWrong() {
    byte[] good = cipher.encrypt(new byte[8], CONTEXT);

    assertThatThrownBy(() -> cipher.decrypt(new byte[3], CONTEXT))
        .isInstanceOf(InvalidCiphertextException.class)
        .hasMessage("Invalid payload: truncated header: 3 bytes, need at least 6");
    byte[] magic = good.clone();
    magic[0] = 'X';
    assertThatThrownBy(() -> cipher.decrypt(magic, CONTEXT))
        .hasMessage("Invalid payload: not a keymanager payload (bad magic)");
    byte[] version = good.clone();
    version[2] = 7;
    assertThatThrownBy(() -> cipher.decrypt(version, CONTEXT))
        .hasMessage("Invalid payload: unknown payload format version 7");
    byte[] kind = good.clone();
    kind[3] = 9;
    assertThatThrownBy(() -> cipher.decrypt(kind, CONTEXT))
        .hasMessage("Invalid payload: unknown payload kind 9");
    byte[] length = good.clone();
    length[4] = (byte) 0xFF;
    assertThatThrownBy(() -> cipher.decrypt(length, CONTEXT))
        .hasMessageContaining("wrapped DEK length 65");
    byte[] wrapped = good.clone();
    wrapped[6] = 'Q';
    assertThatThrownBy(() -> cipher.decrypt(wrapped, CONTEXT))
        .isInstanceOf(InvalidCiphertextException.class)
        .hasMessageContaining("Invalid payload header: Invalid wrapped key: not a keymanager");
    assertThatThrownBy(() -> cipher.decrypt(Arrays.copyOf(good, 30), CONTEXT))
        .hasMessageContaining("truncated header: 30 bytes, need");
  }

  @Test
  void aStreamingPayloadIsNotAOneShotPayload() throws Exception {
    byte[] streaming = Fixture.encryptStreaming(cipher, new byte[10], CONTEXT);

    assertThatThrownBy(() -> cipher.decrypt(streaming, CONTEXT))
        .isInstanceOf(InvalidCiphertextException.class)
        .hasMessageContaining("this is a streaming payload");
  }

  @Test
  void encryptingUnderAMissingKekFailsWithAStateException() {
    EnvelopeCipher missing = EnvelopeCipher.of(f.keys, "nobody");

    assertThatThrownBy(() -> missing.encrypt(new byte[1], CONTEXT))
        .isInstanceOf(KekStateException.class)
        .hasMessageContaining("nobody");
  }

  @Test
  void segmentSizesAreCheckedAndShown() {
    assertThat(EnvelopeCipher.of(f.keys, "tenant-42").segmentSize()).isEqualTo(65536);
    assertThat(EnvelopeCipher.builder(f.keys, "tenant-42").segmentSize(4096).build())
        .hasToString("EnvelopeCipher[KEK tenant-42, 4096-byte segments]");
    for (int bad : new int[] {0, 2048, 5000, 8 << 20, -4096}) {
      assertThatThrownBy(() -> EnvelopeCipher.builder(f.keys, "tenant-42").segmentSize(bad))
          .isInstanceOf(IllegalArgumentException.class);
    }
    assertThatThrownBy(() -> EnvelopeCipher.of(f.keys, ""))
        .isInstanceOf(IllegalArgumentException.class);
  }
}
