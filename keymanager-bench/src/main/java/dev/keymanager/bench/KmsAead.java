package dev.keymanager.bench;

import com.google.crypto.tink.Aead;
import dev.keymanager.KeyContext;
import dev.keymanager.spi.KmsUnwrapper;
import dev.keymanager.spi.KmsWrapper;
import java.net.URI;
import java.security.GeneralSecurityException;

/**
 * Tink's view of a {@link dev.keymanager.testkit.FakeKms} CMK, so that Tink's {@code
 * KmsEnvelopeAead} and keymanager call the very same fake KMS, with the same latency switch and the
 * same AES-GCM underneath. Tink sends no associated data to its KMS; none is supported here.
 */
final class KmsAead implements Aead {
  private final KmsWrapper wrapper;
  private final KmsUnwrapper unwrapper;

  KmsAead(dev.keymanager.testkit.FakeKms kms, URI cmk) {
    this.wrapper = kms.wrapper(cmk).orElseThrow();
    this.unwrapper = kms.unwrapper(cmk);
  }

  @Override
  public byte[] encrypt(byte[] plaintext, byte[] associatedData) throws GeneralSecurityException {
    checkNoAssociatedData(associatedData);
    return wrapper.wrap(plaintext, KeyContext.empty());
  }

  @Override
  public byte[] decrypt(byte[] ciphertext, byte[] associatedData) throws GeneralSecurityException {
    checkNoAssociatedData(associatedData);
    return unwrapper.unwrap(ciphertext, KeyContext.empty());
  }

  private static void checkNoAssociatedData(byte[] associatedData) throws GeneralSecurityException {
    if (associatedData != null && associatedData.length != 0) {
      throw new GeneralSecurityException("the fake KMS AEAD takes no associated data");
    }
  }
}
