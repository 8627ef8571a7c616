package dev.keymanager.core.envelope;

import static org.assertj.core.api.Assertions.assertThat;

import dev.keymanager.KeyContext;
import dev.keymanager.KeyManager;
import dev.keymanager.core.KeyManagers;
import dev.keymanager.core.store.KekStores;
import dev.keymanager.spi.KekStore;
import dev.keymanager.testkit.FakeKms;
import java.io.ByteArrayInputStream;
import java.io.InputStream;
import java.net.URI;
import java.nio.ByteBuffer;
import java.security.Provider;
import java.security.Security;
import java.util.Locale;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.bouncycastle.jce.provider.BouncyCastleProvider;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Payload encryption and the key manager's JCA provider ({@code jcaProvider}), on the JDK's SunJCE
 * and on Bouncy Castle: one-shot payloads take their AES-GCM from the key manager's provider, also
 * through a {@code dataPathOnly()} view; streaming payloads (Tink) take theirs from the JDK's
 * provider list, as the {@link EnvelopeCipher} class comment says. Payloads written on one provider
 * read on the other.
 */
class EnvelopeJcaProviderTest {
  private static final URI CMK = FakeKms.cmk("envelope-jca");
  private static final KeyContext CONTEXT = KeyContext.of("table", "orders");

  static Stream<Provider> providers() {
    return Stream.of(Security.getProvider("SunJCE"), new BouncyCastleProvider());
  }

  private final FakeKms kms = new FakeKms();
  private final KekStore store = KekStores.inMemory();

  private KeyManager keys(Provider provider) {
    KeyManagers.Builder b =
        KeyManagers.builder().kekStore(store).kmsProvider(kms).discoverProviders(false);
    return (provider == null ? b : b.jcaProvider(provider)).build();
  }

  @ParameterizedTest
  @MethodSource("providers")
  void oneShotPayloadsRunOnTheKeyManagersProvider(Provider provider) {
    Recording recording = new Recording(provider);
    byte[] record = Fixture.pattern(1000, 1);
    byte[] stored;
    ByteBuffer storedBuffer;
    try (KeyManager keys = keys(recording)) {
      keys.admin().createKek("orders", CMK);
      EnvelopeCipher orders = EnvelopeCipher.of(keys.dataPathOnly(), "orders");
      stored = orders.encrypt(record, CONTEXT);
      storedBuffer = orders.encrypt(ByteBuffer.wrap(record), CONTEXT);
      assertThat(orders.decrypt(stored, CONTEXT)).isEqualTo(record);
      assertThat(orders.decrypt(storedBuffer.duplicate(), CONTEXT))
          .isEqualTo(ByteBuffer.wrap(record));
    }
    assertThat(recording.aesGcmCallers()).contains(OneShot.class.getName());

    // Written on the provider, read on the JDK's provider list: nothing on the wire changed.
    try (KeyManager keys = keys(null)) {
      EnvelopeCipher orders = EnvelopeCipher.of(keys, "orders");
      assertThat(orders.decrypt(stored, CONTEXT)).isEqualTo(record);
      assertThat(orders.decrypt(storedBuffer, CONTEXT)).isEqualTo(ByteBuffer.wrap(record));
      byte[] back = orders.encrypt(record, CONTEXT);
      try (KeyManager again = keys(provider)) {
        assertThat(EnvelopeCipher.of(again, "orders").decrypt(back, CONTEXT)).isEqualTo(record);
      }
    }
  }

  @ParameterizedTest
  @MethodSource("providers")
  void streamingPayloadsRunOnTheProviderListNotOnTheOption(Provider provider) throws Exception {
    Recording chosen = new Recording(provider);
    Recording first = new Recording(provider, "FirstInTheList");
    byte[] file = Fixture.pattern(200_000, 2);
    Security.insertProviderAt(first, 1);
    try (KeyManager keys = keys(chosen)) {
      keys.admin().createKek("orders", CMK);
      EnvelopeCipher orders = EnvelopeCipher.of(keys, "orders");
      byte[] stored = Fixture.encryptStreaming(orders, file, CONTEXT);
      try (InputStream in = orders.newDecryptingStream(new ByteArrayInputStream(stored), CONTEXT)) {
        assertThat(in.readAllBytes()).isEqualTo(file);
      }
      try (var channel = orders.newSeekableDecryptingChannel(new BytesChannel(stored), CONTEXT)) {
        ByteBuffer part = ByteBuffer.allocate(1000);
        channel.position(150_000).read(part);
        assertThat(part.array()).isEqualTo(java.util.Arrays.copyOfRange(file, 150_000, 151_000));
      }
    } finally {
      Security.removeProvider(first.getName());
    }
    // Tink asked the provider list (whose first entry answered), never the key manager's option.
    assertThat(first.aesGcmCallers()).anyMatch(c -> c.startsWith("com.google.crypto.tink."));
    assertThat(first.hmacCallers()).anyMatch(c -> c.startsWith("com.google.crypto.tink."));
    assertThat(chosen.aesGcmCallers()).noneMatch(c -> c.startsWith("com.google.crypto.tink."));
    assertThat(chosen.hmacCallers()).noneMatch(c -> c.startsWith("com.google.crypto.tink."));
    // The DEKs behind the stream were still generated and unwrapped on the chosen provider.
    assertThat(chosen.aesGcmCallers()).contains("dev.keymanager.core.SubkeyCiphers");
  }

  /**
   * A provider that serves another provider's services and records, per algorithm, the classes that
   * asked for them (the nearest keymanager or Tink frame of each request).
   */
  private static final class Recording extends Provider {
    private static final long serialVersionUID = 1L;
    private final transient Provider delegate;
    private final transient Set<String> aesGcm = ConcurrentHashMap.newKeySet();
    private final transient Set<String> hmac = ConcurrentHashMap.newKeySet();

    Recording(Provider delegate) {
      this(delegate, "Recording" + delegate.getName());
    }

    Recording(Provider delegate, String name) {
      super(name, "1", "records who asks for " + delegate.getName() + "'s services");
      this.delegate = delegate;
    }

    @Override
    public synchronized Service getService(String type, String algorithm) {
      Service s = delegate.getService(type, algorithm);
      // The JDK asks for AES/GCM/NoPadding, then AES/GCM, AES//NoPadding, AES: the first the
      // provider has serves (SunJCE registers the full transformation, Bouncy Castle "AES").
      if (s != null
          && type.equals("Cipher")
          && algorithm.toUpperCase(Locale.ROOT).startsWith("AES")) {
        aesGcm.addAll(callers());
      } else if (s != null && type.equals("Mac") && algorithm.equalsIgnoreCase("HmacSHA256")) {
        hmac.addAll(callers());
      }
      return s;
    }

    Set<String> aesGcmCallers() {
      return Set.copyOf(aesGcm);
    }

    Set<String> hmacCallers() {
      return Set.copyOf(hmac);
    }

    private static Set<String> callers() {
      return StackWalker.getInstance()
          .walk(
              frames ->
                  frames
                      .map(StackWalker.StackFrame::getClassName)
                      .filter(
                          c ->
                              (c.startsWith("dev.keymanager.") || c.startsWith("com.google.crypto"))
                                  && !c.startsWith("dev.keymanager.core.internal.Jca")
                                  && !c.contains("EnvelopeJcaProviderTest"))
                      .limit(1)
                      .collect(Collectors.toSet()));
    }
  }
}
