package dev.keymanager.bench;

import com.google.crypto.tink.Aead;
import com.google.crypto.tink.aead.AeadConfig;
import com.google.crypto.tink.aead.KmsEnvelopeAead;
import com.google.crypto.tink.aead.PredefinedAeadParameters;
import dev.keymanager.testkit.FakeKms;
import java.security.GeneralSecurityException;

/**
 * Tink's {@link KmsEnvelopeAead} (AES-256-GCM DEKs) over the fixture's {@link FakeKms}, and one
 * message of the same size as a keymanager DEK, bound to the same context bytes. Tink has no DEK
 * cache: every decrypt is one KMS call.
 */
final class TinkEnvelope {
  final Aead aead;
  final byte[] message;
  final byte[] associatedData;

  TinkEnvelope(FakeKms kms, byte[] plaintext, byte[] associatedData) {
    try {
      AeadConfig.register();
      this.aead =
          KmsEnvelopeAead.create(
              PredefinedAeadParameters.AES256_GCM, new KmsAead(kms, Fixture.CMK));
      this.associatedData = associatedData.clone();
      this.message = aead.encrypt(plaintext, associatedData);
    } catch (GeneralSecurityException e) {
      throw new IllegalStateException(e);
    }
  }

  byte[] decrypt() {
    try {
      return aead.decrypt(message, associatedData);
    } catch (GeneralSecurityException e) {
      throw new IllegalStateException(e);
    }
  }
}
