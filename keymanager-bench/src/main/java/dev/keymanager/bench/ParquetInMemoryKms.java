package dev.keymanager.bench;

import java.nio.charset.StandardCharsets;
import java.util.Base64;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.atomic.AtomicLong;
import org.apache.hadoop.conf.Configuration;
import org.apache.parquet.crypto.KeyAccessDeniedException;
import org.apache.parquet.crypto.ParquetCryptoRuntimeException;
import org.apache.parquet.crypto.keytools.KeyToolkit;
import org.apache.parquet.crypto.keytools.KmsClient;

/**
 * The approach of parquet-hadoop's test sample {@code
 * org.apache.parquet.crypto.keytools.mocks.InMemoryKMS} (which ships only in parquet-hadoop's tests
 * jar): master keys listed in the configuration property {@value #KEY_LIST} as {@code
 * id:base64key,...}, wrapping with {@link KeyToolkit#encryptKeyLocally} (AES-GCM, the master key id
 * as AAD). Used with Parquet's default double wrapping, it is the peer {@link ParquetThroughput}
 * measures keymanager against. It counts its calls, as a remote KMS would bill them.
 */
public final class ParquetInMemoryKms implements KmsClient {
  /** The master keys, {@code id:base64key} separated by commas (as InMemoryKMS reads them). */
  public static final String KEY_LIST = "parquet.encryption.key.list";

  private static final AtomicLong WRAP_CALLS = new AtomicLong();
  private static final AtomicLong UNWRAP_CALLS = new AtomicLong();

  private Map<String, byte[]> masterKeys = Map.of();

  /** Called by Parquet, which creates clients by class name. */
  public ParquetInMemoryKms() {}

  @Override
  public void initialize(
      Configuration configuration, String kmsInstanceId, String kmsInstanceUrl, String token) {
    String[] entries = configuration.getTrimmedStrings(KEY_LIST);
    if (entries == null || entries.length == 0) {
      throw new ParquetCryptoRuntimeException(KEY_LIST + " is not set");
    }
    Map<String, byte[]> keys = new HashMap<>();
    for (String entry : entries) {
      int colon = entry.indexOf(':');
      if (colon <= 0) {
        throw new ParquetCryptoRuntimeException(KEY_LIST + ": an entry is not id:base64key");
      }
      keys.put(
          entry.substring(0, colon).strip(),
          Base64.getDecoder().decode(entry.substring(colon + 1).strip()));
    }
    masterKeys = Map.copyOf(keys);
  }

  @Override
  public String wrapKey(byte[] keyBytes, String masterKeyIdentifier) {
    WRAP_CALLS.incrementAndGet();
    return KeyToolkit.encryptKeyLocally(
        keyBytes, masterKey(masterKeyIdentifier), aad(masterKeyIdentifier));
  }

  @Override
  public byte[] unwrapKey(String wrappedKey, String masterKeyIdentifier) {
    UNWRAP_CALLS.incrementAndGet();
    return KeyToolkit.decryptKeyLocally(
        wrappedKey, masterKey(masterKeyIdentifier), aad(masterKeyIdentifier));
  }

  /** Unwrap calls since the last {@link #resetCounts}, by every instance. */
  public static long unwrapCalls() {
    return UNWRAP_CALLS.get();
  }

  /** Wrap calls since the last {@link #resetCounts}, by every instance. */
  public static long wrapCalls() {
    return WRAP_CALLS.get();
  }

  /** Sets both counters to zero. */
  public static void resetCounts() {
    WRAP_CALLS.set(0);
    UNWRAP_CALLS.set(0);
  }

  private byte[] masterKey(String id) {
    byte[] key = masterKeys.get(id);
    if (key == null) {
      throw new KeyAccessDeniedException("no master key " + id);
    }
    return key;
  }

  private static byte[] aad(String id) {
    return id.getBytes(StandardCharsets.UTF_8);
  }
}
