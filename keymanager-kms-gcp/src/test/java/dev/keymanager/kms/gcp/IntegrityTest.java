package dev.keymanager.kms.gcp;

import static java.nio.charset.StandardCharsets.US_ASCII;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowable;

import com.google.api.gax.rpc.InvalidArgumentException;
import com.google.cloud.kms.v1.DecryptRequest;
import com.google.cloud.kms.v1.EncryptRequest;
import dev.keymanager.KeyContext;
import dev.keymanager.KeyManagerConfigException;
import dev.keymanager.KmsUnavailableException;
import dev.keymanager.kms.gcp.FakeCloudKms.Corruption;
import dev.keymanager.spi.KmsUnwrapper;
import dev.keymanager.spi.KmsWrapper;
import java.net.URI;
import java.util.Map;
import java.util.zip.CRC32C;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * What goes on the wire (the canonical context as AAD, CRC32C of every field), and what happens
 * when a response or request is corrupted: a typed, retryable error after exactly one call, the bad
 * bytes never returned.
 */
class IntegrityTest {
  private static final FakeCloudKms KMS = FakeCloudKms.inProcess();
  private static final URI CMK = KMS.createKey("integrity", "ring", "cmk");
  private static final GcpKmsProvider PROVIDER = KMS.providerBuilder().build();
  private static final KeyContext CONTEXT =
      KeyContext.of(Map.of("keymanager:kek-id", "tenant-42", "keymanager:kek-version", "1"));

  private final KmsWrapper wrapper = PROVIDER.wrapper(CMK).orElseThrow();
  private final KmsUnwrapper unwrapper = PROVIDER.unwrapper(CMK);

  @AfterEach
  void clean() {
    KMS.clearFaults();
  }

  @AfterAll
  static void stop() {
    PROVIDER.close();
    KMS.close();
  }

  @Test
  void crc32cIsCastagnoli() {
    // The standard check value of CRC-32C over "123456789" (RFC 3720, appendix B.4).
    assertThat(GcpCryptoKey.crc32c("123456789".getBytes(US_ASCII)).getValue())
        .isEqualTo(0xE3069283L);
  }

  @Test
  void encryptSendsTheCryptoKeyTheCanonicalContextAndTheirChecksums() {
    byte[] kek = kek();

    wrapper.wrap(kek, CONTEXT);

    EncryptRequest sent = KMS.lastEncryptRequest();
    assertThat(sent.getName())
        .isEqualTo("projects/integrity/locations/global/keyRings/ring/cryptoKeys/cmk");
    assertThat(sent.getPlaintext().toByteArray()).isEqualTo(kek);
    assertThat(sent.getAdditionalAuthenticatedData().toByteArray()).isEqualTo(CONTEXT.encode());
    assertThat(sent.getPlaintextCrc32C().getValue()).isEqualTo(crc(kek));
    assertThat(sent.getAdditionalAuthenticatedDataCrc32C().getValue())
        .isEqualTo(crc(CONTEXT.encode()));
  }

  @Test
  void decryptSendsTheCryptoKeyTheCanonicalContextAndTheirChecksums() {
    byte[] ciphertext = wrapper.wrap(kek(), CONTEXT);

    unwrapper.unwrap(ciphertext, CONTEXT);

    DecryptRequest sent = KMS.lastDecryptRequest();
    assertThat(sent.getName())
        .isEqualTo("projects/integrity/locations/global/keyRings/ring/cryptoKeys/cmk");
    assertThat(sent.getCiphertext().toByteArray()).isEqualTo(ciphertext);
    assertThat(sent.getAdditionalAuthenticatedData().toByteArray()).isEqualTo(CONTEXT.encode());
    assertThat(sent.getCiphertextCrc32C().getValue()).isEqualTo(crc(ciphertext));
    assertThat(sent.getAdditionalAuthenticatedDataCrc32C().getValue())
        .isEqualTo(crc(CONTEXT.encode()));
  }

  @ParameterizedTest
  @EnumSource(
      value = Corruption.class,
      names = {
        "CIPHERTEXT_BIT_FLIPPED",
        "CIPHERTEXT_CRC_MISSING",
        "PLAINTEXT_NOT_VERIFIED",
        "AAD_NOT_VERIFIED"
      })
  void corruptedEncryptResponseIsRetryableAndNotRetriedIntoWrongData(Corruption corruption) {
    int before = KMS.encryptCalls();
    KMS.corruptNext(corruption);

    Throwable thrown = catchThrowable(() -> wrapper.wrap(kek(), CONTEXT));

    assertThat(thrown)
        .isInstanceOf(KmsUnavailableException.class)
        .hasMessageContaining(CMK.toString())
        .hasMessageContaining("integrity");
    assertThat(thrown.getCause()).as("no vendor error: the call itself succeeded").isNull();
    assertThat(KMS.encryptCalls() - before).as("calls").isEqualTo(1);
    byte[] ciphertext = wrapper.wrap(kek(), CONTEXT);
    assertThat(unwrapper.unwrap(ciphertext, CONTEXT)).isEqualTo(kek());
  }

  @ParameterizedTest
  @EnumSource(
      value = Corruption.class,
      names = {"PLAINTEXT_BIT_FLIPPED", "PLAINTEXT_CRC_MISSING"})
  void corruptedDecryptResponseIsRetryableAndNeverReturned(Corruption corruption) {
    byte[] ciphertext = wrapper.wrap(kek(), CONTEXT);
    int before = KMS.decryptCalls();
    KMS.corruptNext(corruption);

    Throwable thrown = catchThrowable(() -> unwrapper.unwrap(ciphertext, CONTEXT));

    assertThat(thrown)
        .isInstanceOf(KmsUnavailableException.class)
        .hasMessageContaining(CMK.toString())
        .hasMessageContaining("plaintext does not match its CRC32C");
    assertThat(KMS.decryptCalls() - before).as("calls").isEqualTo(1);
    assertThat(unwrapper.unwrap(ciphertext, CONTEXT)).isEqualTo(kek());
  }

  @Test
  void requestCorruptedOnTheWayIsRetryableNotTheCallersBadCiphertext() {
    byte[] ciphertext = wrapper.wrap(kek(), CONTEXT);

    KMS.corruptNext(Corruption.REQUEST_BIT_FLIPPED);
    Throwable onDecrypt = catchThrowable(() -> unwrapper.unwrap(ciphertext, CONTEXT));
    KMS.corruptNext(Corruption.REQUEST_BIT_FLIPPED);
    Throwable onEncrypt = catchThrowable(() -> wrapper.wrap(kek(), CONTEXT));

    for (Throwable thrown : new Throwable[] {onDecrypt, onEncrypt}) {
      assertThat(thrown)
          .isInstanceOf(KmsUnavailableException.class)
          .hasMessageContaining("CRC32C")
          .hasCauseInstanceOf(InvalidArgumentException.class);
      assertThat(thrown.getCause()).hasMessageContaining("_crc32c did not match");
    }
  }

  @Test
  void encryptAnsweredForAnotherKeyIsRefused() {
    KMS.corruptNext(Corruption.OTHER_KEY_NAMED);

    Throwable thrown = catchThrowable(() -> wrapper.wrap(kek(), CONTEXT));

    assertThat(thrown)
        .isInstanceOf(KeyManagerConfigException.class)
        .hasMessageContaining(CMK.toString())
        .hasMessageContaining("cryptoKeys/cmk-other/cryptoKeyVersions/1");
  }

  @Test
  void rotatedKeyWrapsWithTheNewVersionAndStillUnwrapsOldCiphertext() {
    URI key = KMS.createKey("integrity", "ring", "rotating");
    KmsWrapper w = PROVIDER.wrapper(key).orElseThrow();
    KmsUnwrapper u = PROVIDER.unwrapper(key);
    byte[] underV1 = w.wrap(kek(), CONTEXT);

    assertThat(KMS.rotate(key)).isEqualTo(2);
    byte[] underV2 = w.wrap(kek(), CONTEXT);

    assertThat(u.unwrap(underV1, CONTEXT)).isEqualTo(kek());
    assertThat(u.unwrap(underV2, CONTEXT)).isEqualTo(kek());
    assertThat(FakeCloudKms.versionOf(underV2)).isEqualTo(2);
  }

  private static long crc(byte[] bytes) {
    CRC32C crc = new CRC32C();
    crc.update(bytes);
    return crc.getValue();
  }

  private static byte[] kek() {
    byte[] kek = new byte[32];
    for (int i = 0; i < kek.length; i++) {
      kek[i] = (byte) (0xA0 + i);
    }
    return kek;
  }
}
