package dev.keymanager.core.envelope;

import com.google.crypto.tink.subtle.AesGcmHkdfStreaming;
import dev.keymanager.DataKey;
import java.security.InvalidAlgorithmParameterException;

/**
 * Sets up Tink's AES-GCM-HKDF streaming AEAD for one payload. The first {@code header.length()}
 * bytes of the ciphertext are the envelope header ({@code firstSegmentOffset} in Tink's terms), so
 * every segment stays aligned on a multiple of the segment size in the file.
 *
 * <p>Tink copies the DEK into the primitive ({@code ikm}) and, per stream, keeps the HKDF-derived
 * AES key in a {@code SecretKeySpec}; neither can be overwritten from outside Tink. The wrapping
 * streams and channels drop their reference to the primitive on {@code close()}, so those copies
 * become unreachable then (the garbage collector frees them without overwriting them).
 */
final class Streaming {
  static final String HKDF = "HmacSha256";
  static final int KEY_LENGTH = 32;
  static final int TINK_HEADER_LENGTH = 1 + KEY_LENGTH + 7; // length byte, salt, nonce prefix
  static final int TAG_LENGTH = 16;

  private Streaming() {}

  /** A primitive keyed with the DEK; the caller closes the DEK right after this call. */
  static AesGcmHkdfStreaming primitive(DataKey dek, PayloadHeader header) {
    return dek.use(
        key -> {
          try {
            return new AesGcmHkdfStreaming(
                key, HKDF, KEY_LENGTH, header.segmentSize(), header.length());
          } catch (InvalidAlgorithmParameterException e) {
            // The header parser bounds the segment size and header length, so this is a bug.
            throw new IllegalStateException("Tink refused the streaming parameters", e);
          }
        });
  }
}
