package dev.keymanager.core.internal;

import java.io.NotSerializableException;
import java.io.ObjectOutputStream;
import javax.crypto.SecretKey;

/**
 * A secret key that lends JCE a view of bytes owned elsewhere, used instead of {@code
 * SecretKeySpec}, which keeps a private copy that nobody can overwrite. {@link #getEncoded()} must
 * return a copy (the JCE contract); the JDK's AES-GCM and HMAC implementations overwrite that copy
 * once they have expanded it.
 *
 * <p>The owner wipes the bytes (directly, or through {@link #wipe()}); after that this key holds
 * zeros. Never serialised.
 */
public final class LentKey implements SecretKey {
  private static final long serialVersionUID = 1L;

  @SuppressWarnings("serial") // never serialised: writeObject refuses
  private final transient byte[] bytes;

  private final String algorithm;

  public LentKey(byte[] ownedElsewhere, String algorithm) {
    this.bytes = ownedElsewhere;
    this.algorithm = algorithm;
  }

  public static LentKey aes(byte[] ownedElsewhere) {
    return new LentKey(ownedElsewhere, "AES");
  }

  @Override
  public String getAlgorithm() {
    return algorithm;
  }

  @Override
  public String getFormat() {
    return "RAW";
  }

  @Override
  public byte[] getEncoded() {
    return bytes.clone();
  }

  /** Overwrites the lent bytes with zeros, for an owner that keeps only this key. */
  public void wipe() {
    java.util.Arrays.fill(bytes, (byte) 0);
  }

  @Override
  public String toString() {
    return "LentKey[" + algorithm + ", " + bytes.length + " bytes, redacted]";
  }

  private void writeObject(ObjectOutputStream out) throws NotSerializableException {
    throw new NotSerializableException("key material is never serialised");
  }
}
