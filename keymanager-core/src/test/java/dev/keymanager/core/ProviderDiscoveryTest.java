package dev.keymanager.core;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.keymanager.KeyManager;
import dev.keymanager.KeyManagerConfigException;
import dev.keymanager.core.store.KekStores;
import dev.keymanager.spi.KmsProvider;
import dev.keymanager.spi.KmsUnwrapper;
import dev.keymanager.spi.KmsWrapper;
import dev.keymanager.testkit.FakeKms;
import java.net.URI;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ProviderDiscoveryTest {
  @TempDir Path dir;

  /** A second provider claiming FakeKms's scheme, as a conflicting module would. */
  static final class Impostor implements KmsProvider {
    boolean closed;

    @Override
    public String scheme() {
      return FakeKms.SCHEME;
    }

    @Override
    public KmsUnwrapper unwrapper(URI cmkUri) {
      throw new AssertionError("never used");
    }

    @Override
    public Optional<KmsWrapper> wrapper(URI cmkUri) {
      throw new AssertionError("never used");
    }

    @Override
    public void close() {
      closed = true;
    }
  }

  @Test
  void serviceLoaderFindsTheLocalAndFakeProvidersOnlyWhenDevelopmentKmsIsAllowed() {
    try (KeyManager keys =
        KeyManagers.builder().kekStore(KekStores.inMemory()).allowDevelopmentKms().build()) {
      assertThatThrownBy(() -> keys.admin().createKek("k", URI.create("gcp-kms://projects/p")))
          .isInstanceOf(KeyManagerConfigException.class)
          .hasMessageContaining("'gcp-kms'")
          .hasMessageContaining("[fake-kms, local-kms]");

      keys.admin().createKek("local", LocalKms.createMasterKey(dir.resolve("master.key")));
      keys.admin().createKek("fake", FakeKms.cmk("main"));
      assertThat(keys.admin().listKeks()).containsExactly("fake", "local");
    }
  }

  @Test
  void discoveredDevelopmentProvidersAreIgnoredWithoutOptInAndTheErrorSaysHowToOptIn() {
    try (KeyManager keys = KeyManagers.builder().kekStore(KekStores.inMemory()).build()) {
      assertThatThrownBy(() -> keys.admin().createKek("fake", FakeKms.cmk("main")))
          .isInstanceOf(KeyManagerConfigException.class)
          .hasMessageContaining("'fake-kms'")
          .hasMessageContaining("is on the class path but was ignored")
          .hasMessageContaining("allowDevelopmentKms()");
      URI local = LocalKms.createMasterKey(dir.resolve("master.key"));
      assertThatThrownBy(() -> keys.admin().createKek("local", local))
          .isInstanceOf(KeyManagerConfigException.class)
          .hasMessageContaining("'local-kms'")
          .hasMessageContaining("allowDevelopmentKms()");
      assertThat(keys.admin().listKeks()).isEmpty();
    }
  }

  @Test
  void aDevelopmentSchemeInAllowedSchemesFailsTheBuildWithoutOptIn() {
    FakeKms discovered = new FakeKms();
    assertThatThrownBy(
            () ->
                KeyManagers.builder()
                    .kekStore(KekStores.inMemory())
                    .allowedSchemes(Set.of("fake-kms"))
                    .build(List.of(discovered)))
        .isInstanceOf(KeyManagerConfigException.class)
        .hasMessageContaining("'fake-kms' is allowed but no KMS provider handles it")
        .hasMessageContaining("allowDevelopmentKms()");
  }

  @Test
  void anExplicitDevelopmentProviderNeedsNoOptIn() {
    FakeKms mine = new FakeKms();
    try (KeyManager keys =
        KeyManagers.builder()
            .kekStore(KekStores.inMemory())
            .kmsProvider(mine)
            .allowedSchemes(Set.of("fake-kms"))
            .build(List.of())) {
      keys.admin().createKek("k", FakeKms.cmk("main"));

      assertThat(mine.wrapCalls()).isEqualTo(1);
    }
  }

  @Test
  void twoDiscoveredProvidersForOneSchemeFailNamingBoth() {
    Impostor impostor = new Impostor();

    assertThatThrownBy(
            () ->
                KeyManagers.builder()
                    .kekStore(KekStores.inMemory())
                    .allowDevelopmentKms()
                    .build(List.of(new FakeKms(), impostor)))
        .isInstanceOf(KeyManagerConfigException.class)
        .hasMessageContaining("'fake-kms'")
        .hasMessageContaining(FakeKms.class.getName())
        .hasMessageContaining(Impostor.class.getName());
    assertThat(impostor.closed).isTrue();
  }

  @Test
  void anExplicitProviderWinsOverDiscoveredOnes() {
    FakeKms mine = new FakeKms();
    Impostor impostor = new Impostor();
    try (KeyManager keys =
        KeyManagers.builder()
            .kekStore(KekStores.inMemory())
            .kmsProvider(mine)
            .build(List.of(new FakeKms(), impostor))) {
      keys.admin().createKek("k", FakeKms.cmk("main"));

      assertThat(mine.wrapCalls()).isEqualTo(1);
      assertThat(impostor.closed).isTrue();
    }
  }

  @Test
  void twoExplicitProvidersForOneSchemeFail() {
    assertThatThrownBy(
            () ->
                KeyManagers.builder()
                    .kekStore(KekStores.inMemory())
                    .kmsProvider(new FakeKms())
                    .kmsProvider(new Impostor())
                    .build(List.of()))
        .isInstanceOf(KeyManagerConfigException.class)
        .hasMessageContaining("Two KMS providers claim scheme 'fake-kms'");
  }

  @Test
  void allowedSchemesKeepOtherProvidersOut() {
    try (KeyManager keys =
        KeyManagers.builder()
            .kekStore(KekStores.inMemory())
            .allowDevelopmentKms()
            .allowedSchemes(Set.of("fake-kms"))
            .build()) {
      assertThatThrownBy(
              () -> keys.admin().createKek("k", URI.create("local-kms://" + dir.resolve("m.key"))))
          .isInstanceOf(KeyManagerConfigException.class)
          .hasMessageContaining("[fake-kms]");
    }
    assertThatThrownBy(
            () ->
                KeyManagers.builder()
                    .kekStore(KekStores.inMemory())
                    .allowedSchemes(Set.of("aws-kms"))
                    .build())
        .isInstanceOf(KeyManagerConfigException.class)
        .hasMessageContaining("'aws-kms' is allowed but no KMS provider handles it")
        .hasMessageContaining("providers were found for schemes [")
        .hasMessageContaining("local-kms"); // found on the class path, though not allowed
  }

  @Test
  void aBuilderWithoutAStoreIsAConfigurationError() {
    assertThatThrownBy(() -> KeyManagers.builder().build())
        .isInstanceOf(KeyManagerConfigException.class)
        .hasMessageContaining("kekStore");
  }

  @Test
  void malformedLocalKmsUrisAreRejected() {
    try (KeyManager keys =
        KeyManagers.builder().kekStore(KekStores.inMemory()).allowDevelopmentKms().build()) {
      for (String uri :
          new String[] {
            "local-kms:/abs", "local-kms:opaque", "local-kms://x?y=1", "local-kms://x#f"
          }) {
        assertThatThrownBy(() -> keys.admin().createKek("k", URI.create(uri)))
            .as(uri)
            .isInstanceOf(KeyManagerConfigException.class)
            .hasMessageContaining("local-kms");
      }
    }
  }
}
