package dev.keymanager.examples;

import dev.keymanager.DataKey;
import dev.keymanager.KeyContext;
import dev.keymanager.KeyManager;
import dev.keymanager.WrappedKey;
import dev.keymanager.core.KeyManagers;
import dev.keymanager.core.LocalKms;
import dev.keymanager.core.store.KekStores;
import dev.keymanager.spi.KekStore;
import java.io.PrintStream;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.SecureRandom;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import javax.crypto.Cipher;
import javax.crypto.spec.GCMParameterSpec;
import javax.crypto.spec.SecretKeySpec;

/**
 * The quick start: the embedded default (a file KEK store and the local development KMS), a KEK, a
 * few records each encrypted under its own DEK, then a fresh key manager over the same store, as
 * after a restart, that decrypts them.
 *
 * <p>Run it with {@code ./mvnw -q -pl examples -am -DskipTests -Pquickstart verify}; pass a
 * directory as the first argument to keep the store somewhere else.
 */
public final class QuickStart {
  private static final String[] RECORDS = {
    "order 1001: 3 x espresso beans", "order 1002: 1 x grinder", "order 1003: 12 x filters"
  };

  private QuickStart() {}

  /** One encrypted record as a storage engine would keep it: the wrapped DEK beside the data. */
  record StoredRecord(String id, byte[] wrappedDek, byte[] nonce, byte[] ciphertext) {}

  public static void main(String[] args) throws GeneralSecurityException {
    Path home = Path.of(args.length > 0 ? args[0] : "target/quickstart");
    run(home, System.out);
  }

  /** Runs the quick start in {@code home}; returns the decrypted records. */
  static List<String> run(Path home, PrintStream out) throws GeneralSecurityException {
    // A development CMK: a master key file with owner-only permissions. In production this URI
    // names the customer's key in their KMS, e.g. aws-kms://arn:aws:kms:...:key/...
    URI cmk = LocalKms.createMasterKey(home.resolve("local-kms/master.key"));
    out.println("using the local development KMS (a key file: not for production) at " + cmk);
    KekStore store = KekStores.file(home.resolve("keks"));
    List<StoredRecord> stored = new ArrayList<>();

    try (KeyManager keys =
        KeyManagers.builder()
            .kekStore(store)
            .allowDevelopmentKms() // the local-kms:// CMK above; never in production
            .hardTtl(Duration.ofMinutes(5))
            .build()) {
      if (keys.admin().describeKek("orders").isEmpty()) {
        keys.admin().createKek("orders", cmk);
        out.println("created KEK orders v1 under " + cmk);
      } else {
        out.println(
            "found KEK orders from an earlier run: " + keys.admin().describeKek("orders").get());
      }
      for (int i = 0; i < RECORDS.length; i++) {
        String id = "record-" + (i + 1);
        KeyContext context = KeyContext.of("record", id); // binds the DEK to where it is used
        try (DataKey dek = keys.generateDek("orders", context)) {
          byte[] nonce = new byte[12];
          new SecureRandom().nextBytes(nonce);
          byte[] plaintext = RECORDS[i].getBytes(StandardCharsets.UTF_8);
          byte[] ciphertext = dek.use(k -> aesGcm(Cipher.ENCRYPT_MODE, k, nonce, plaintext));
          stored.add(new StoredRecord(id, dek.wrappedKey().encode(), nonce, ciphertext));
          out.printf(
              "encrypted %s: %d plaintext bytes -> %d ciphertext bytes + %d-byte wrapped DEK (%s)%n",
              id,
              plaintext.length,
              ciphertext.length,
              dek.wrappedKey().length(),
              dek.wrappedKey().kek());
        }
      }
      out.println("stats after writing: " + keys.stats());
    }

    // A new key manager over the same store, as after a restart: the KEK is unwrapped through the
    // KMS once, on first use, then every DEK unwraps locally.
    List<String> decrypted = new ArrayList<>();
    try (KeyManager keys = KeyManagers.builder().kekStore(store).allowDevelopmentKms().build()) {
      for (StoredRecord r : stored) {
        KeyContext context = KeyContext.of("record", r.id());
        try (DataKey dek = keys.unwrapDek(WrappedKey.decode(r.wrappedDek()), context)) {
          byte[] plaintext =
              dek.use(k -> aesGcm(Cipher.DECRYPT_MODE, k, r.nonce(), r.ciphertext()));
          String text = new String(plaintext, StandardCharsets.UTF_8);
          decrypted.add(text);
          out.printf("decrypted %s after restart: \"%s\"%n", r.id(), text);
        }
      }
      out.println("stats after restart: " + keys.stats() + " (one KMS call for three records)");
    } finally {
      store.close();
    }
    return decrypted;
  }

  private static byte[] aesGcm(int mode, byte[] key, byte[] nonce, byte[] input) {
    try {
      Cipher cipher = Cipher.getInstance("AES/GCM/NoPadding");
      cipher.init(mode, new SecretKeySpec(key, "AES"), new GCMParameterSpec(128, nonce));
      return cipher.doFinal(input);
    } catch (GeneralSecurityException e) {
      throw new IllegalStateException(e);
    }
  }
}
