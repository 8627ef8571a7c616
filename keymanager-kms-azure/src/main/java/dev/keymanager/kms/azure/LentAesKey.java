package dev.keymanager.kms.azure;

import java.io.NotSerializableException;
import java.io.ObjectOutputStream;
import javax.crypto.SecretKey;

/**
 * An AES key that lends the JCE bytes owned by the caller, instead of {@code SecretKeySpec}, which
 * keeps a private copy nobody can overwrite. {@link #getEncoded()} returns a copy, as the JCE
 * contract requires; the JDK's AES-GCM overwrites that copy once it has expanded the key. Core has
 * the same idea in its internal package, which KMS modules may not import.
 */
final class LentAesKey implements SecretKey {
  private static final long serialVersionUID = 1L;

  @SuppressWarnings("serial") // never serialised: writeObject refuses
  private final transient byte[] bytes;

  LentAesKey(byte[] ownedElsewhere) {
    this.bytes = ownedElsewhere;
  }

  @Override
  public String getAlgorithm() {
    return "AES";
  }

  @Override
  public String getFormat() {
    return "RAW";
  }

  @Override
  public byte[] getEncoded() {
    return bytes.clone();
  }

  @Override
  public String toString() {
    return "LentAesKey[" + bytes.length + " bytes, redacted]";
  }

  private void writeObject(ObjectOutputStream out) throws NotSerializableException {
    throw new NotSerializableException("key material is never serialised");
  }
}
