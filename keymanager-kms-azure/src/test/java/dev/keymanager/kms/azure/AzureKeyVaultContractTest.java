package dev.keymanager.kms.azure;

import dev.keymanager.spi.KmsProvider;
import dev.keymanager.testkit.KmsProviderContract;
import java.net.URI;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;

/**
 * The test kit's conformance suite against RSA keys in a Key Vault, through the real
 * CryptographyClient talking HTTPS to {@link FakeKeyVault}. One fake and one provider serve every
 * test, as one provider serves a key manager.
 */
class AzureKeyVaultContractTest extends KmsProviderContract {
  private static final FakeKeyVault KV = new FakeKeyVault();
  private static final AzureKeyVaultKmsProvider PROVIDER = TestProviders.builder(KV).build();

  static {
    KV.addRsaVersion("kek");
    KV.addRsaVersion("other");
  }

  @AfterAll
  static void stop() {
    PROVIDER.close();
    KV.close();
  }

  @Override
  protected KmsProvider provider() {
    return PROVIDER;
  }

  @Override
  protected URI cmk() {
    return URI.create("azure-kv://contract.vault.azure.net/keys/kek");
  }

  @Override
  protected URI otherCmk() {
    return URI.create("azure-kv://contract.vault.azure.net/keys/other");
  }

  @Override
  protected void revoke(URI cmk) {
    KV.setEnabled("kek", false);
  }

  @Override
  protected void restore(URI cmk) {
    KV.setEnabled("kek", true);
  }

  @Override
  protected void failNextCallTransiently() {
    KV.failNext(TestProviders.ATTEMPTS, 503, "ServiceUnavailable", Map.of());
  }

  @Override
  protected URI malformedUri() {
    return URI.create("azure-kv://contract.vault.azure.net/secrets/kek");
  }
}
