package dev.keymanager.core.envelope;

import dev.keymanager.KeyContext;
import dev.keymanager.KeyEncryptionKey;
import dev.keymanager.KeyManager;
import dev.keymanager.core.KeyManagers;
import dev.keymanager.core.store.KekStores;
import dev.keymanager.spi.KekStore;
import dev.keymanager.testkit.FakeKms;
import java.io.IOException;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Generates {@code golden/envelope-v1.properties}: the fixed inputs, a key manager on {@link
 * FakeKms} (whose CMK key derives from its name alone) and a stored KEK record, and the payloads.
 * The committed file was made by this program once; never regenerate it to make a test pass.
 *
 * <p>Re-running it makes different bytes (the DEKs, nonces and Tink salts are random), all of which
 * decrypt under the same recorded KEK: the KEK record is what makes the vectors reproducible. Run:
 *
 * <pre>
 * ./mvnw -q -pl keymanager-core -am test-compile
 * ./mvnw -q -pl keymanager-core dependency:build-classpath -Dmdep.outputFile=target/cp.txt
 * java -cp keymanager-core/target/test-classes:keymanager-core/target/classes:$(cat keymanager-core/target/cp.txt) \
 *     dev.keymanager.core.envelope.EnvelopeGoldenVectors
 * </pre>
 */
final class EnvelopeGoldenVectors {
  static final String KEK_ID = "tenant-42/orders";
  static final URI CMK = FakeKms.cmk("golden-envelope");
  static final String CONTEXT_SPEC = "table=orders;tenant=acme";

  private EnvelopeGoldenVectors() {}

  static KeyContext context(String spec) {
    Map<String, String> m = new LinkedHashMap<>();
    if (!spec.isEmpty()) {
      for (String pair : spec.split(";")) {
        String[] kv = pair.split("=", 2);
        m.put(kv[0], kv[1]);
      }
    }
    return KeyContext.of(m);
  }

  /** A plaintext of {@code n} bytes that anyone can recompute: byte i is (31 i + 7) mod 256. */
  static byte[] counting(int n) {
    byte[] b = new byte[n];
    for (int i = 0; i < n; i++) {
      b[i] = (byte) (31 * i + 7);
    }
    return b;
  }

  static KeyManager keyManager(KekStore store) {
    return KeyManagers.builder()
        .kekStore(store)
        .kmsProvider(new FakeKms())
        .discoverProviders(false)
        .build();
  }

  public static void main(String[] args) throws IOException {
    HexFormat hex = HexFormat.of();
    KekStore store = KekStores.inMemory();
    try (KeyManager keys = keyManager(store)) {
      KeyEncryptionKey kek = keys.admin().createKek(KEK_ID, CMK);
      KeyContext context = context(CONTEXT_SPEC);
      EnvelopeCipher small = EnvelopeCipher.builder(keys, KEK_ID).segmentSize(4096).build();
      EnvelopeCipher defaults = EnvelopeCipher.of(keys, KEK_ID);
      byte[] text = "order 1001: 3 x espresso beans".getBytes(StandardCharsets.UTF_8);

      System.out.println("kek.id=" + KEK_ID);
      System.out.println("kek.version=" + kek.version());
      System.out.println("kek.cmk=" + CMK);
      System.out.println("kek.wrapped=" + hex.formatHex(kek.wrappedMaterial()));
      System.out.println("context=" + CONTEXT_SPEC);
      System.out.println("one-shot.1.plaintext=" + hex.formatHex(text));
      System.out.println("one-shot.1.payload=" + hex.formatHex(small.encrypt(text, context)));
      System.out.println("one-shot.2.plaintext=");
      System.out.println(
          "one-shot.2.payload=" + hex.formatHex(small.encrypt(new byte[0], context)));
      System.out.println("streaming.1.plaintext-counting=10000");
      System.out.println(
          "streaming.1.payload="
              + hex.formatHex(Fixture.encryptStreaming(small, counting(10_000), context)));
      System.out.println("streaming.2.plaintext-counting=0");
      System.out.println(
          "streaming.2.payload="
              + hex.formatHex(Fixture.encryptStreaming(small, new byte[0], context)));
      System.out.println("streaming.3.plaintext-counting=300");
      System.out.println(
          "streaming.3.payload="
              + hex.formatHex(Fixture.encryptStreaming(defaults, counting(300), context)));
    }
    System.err.println("generated at " + Instant.now());
  }
}
