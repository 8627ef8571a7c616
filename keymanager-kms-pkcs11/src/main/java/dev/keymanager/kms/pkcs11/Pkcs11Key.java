package dev.keymanager.kms.pkcs11;

import dev.keymanager.InvalidCiphertextException;
import dev.keymanager.KeyContext;
import dev.keymanager.spi.KmsUnwrapper;
import dev.keymanager.spi.KmsWrapper;
import java.net.URI;
import java.security.SecureRandom;
import javax.crypto.Cipher;
import javax.crypto.spec.GCMParameterSpec;

/**
 * One CMK: an AES key object on a token. Wrap and unwrap are AES-GCM inside the token ({@code
 * CKM_AES_GCM}), in the {@link Pkcs11Blob} format, with the key context as associated data. Unwrap
 * first checks that the blob names this CMK's key object, so a blob never picks its key.
 */
final class Pkcs11Key implements KmsUnwrapper, KmsWrapper {
  private static final int TAG_BITS = Pkcs11Blob.TAG_LENGTH * 8;

  private final URI cmkUri;
  private final Pkcs11Uri name;
  private final Pkcs11Token token;
  private final SecureRandom random;

  Pkcs11Key(URI cmkUri, Pkcs11Uri name, Pkcs11Token token, SecureRandom random) {
    this.cmkUri = cmkUri;
    this.name = name;
    this.token = token;
    this.random = random;
  }

  @Override
  public URI cmkUri() {
    return cmkUri;
  }

  @Override
  public byte[] wrap(byte[] plaintext, KeyContext context) {
    if (plaintext.length == 0) {
      throw new IllegalArgumentException("nothing to wrap: the plaintext is empty");
    }
    byte[] header = Pkcs11Blob.header(name.object());
    byte[] iv = new byte[Pkcs11Blob.IV_LENGTH];
    random.nextBytes(iv);
    byte[] aad = Pkcs11Blob.aad(header, context.encode());
    byte[] ciphertext =
        token.withKey(
            name.object(),
            "wrap with pkcs11 CMK " + cmkUri,
            false,
            (cipher, key) -> {
              cipher.init(Cipher.ENCRYPT_MODE, key, new GCMParameterSpec(TAG_BITS, iv));
              cipher.updateAAD(aad);
              return cipher.doFinal(plaintext);
            });
    return Pkcs11Blob.encode(header, iv, ciphertext);
  }

  @Override
  public byte[] unwrap(byte[] ciphertext, KeyContext context) {
    Pkcs11Blob blob = Pkcs11Blob.parse(ciphertext, cmkUri);
    if (!blob.label().equals(name.object())) {
      throw new InvalidCiphertextException(
          "Wrapped KEK for pkcs11 CMK "
              + cmkUri
              + " was made under another key object ('"
              + blob.label()
              + "'); it is not tried with this one");
    }
    byte[] aad = Pkcs11Blob.aad(blob.header(), context.encode());
    return token.withKey(
        name.object(),
        "unwrap with pkcs11 CMK " + cmkUri,
        true,
        (cipher, key) -> {
          cipher.init(Cipher.DECRYPT_MODE, key, new GCMParameterSpec(TAG_BITS, blob.iv()));
          cipher.updateAAD(aad);
          return cipher.doFinal(blob.ciphertext());
        });
  }

  @Override
  public String toString() {
    return "Pkcs11Key[" + cmkUri + "]";
  }
}
