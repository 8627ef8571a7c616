package dev.keymanager.core;

import dev.keymanager.KeyContext;
import dev.keymanager.spi.KmsProvider;
import java.net.URI;
import java.security.SecureRandom;
import java.util.Arrays;
import java.util.Map;

/** What a customer does before an import: wrap 32 random bytes under the documented context. */
final class CustomerKms {
  private CustomerKms() {}

  /** The KMS context keymanager documents for KEK material, spelled out as a customer would. */
  static KeyContext importContext(String kekId, int version) {
    return KeyContext.of(
        Map.of("keymanager:kek-id", kekId, "keymanager:kek-version", Integer.toString(version)));
  }

  static byte[] wrapNewKek(KmsProvider kms, URI cmk, String kekId, int version) {
    byte[] kek = new byte[32];
    new SecureRandom().nextBytes(kek);
    try {
      return kms.wrapper(cmk).orElseThrow().wrap(kek, importContext(kekId, version));
    } finally {
      Arrays.fill(kek, (byte) 0);
    }
  }
}
