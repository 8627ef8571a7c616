package dev.keymanager.kms.azure;

import dev.keymanager.spi.KmsProvider;
import dev.keymanager.testkit.KmsProviderContract;
import java.net.URI;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;

/** The conformance suite against AES keys in a Managed HSM (A256KW). */
class ManagedHsmContractTest extends KmsProviderContract {
  private static final FakeKeyVault KV = new FakeKeyVault();
  private static final AzureKeyVaultKmsProvider PROVIDER = TestProviders.builder(KV).build();

  static {
    KV.addAesVersion("aes-kek");
    KV.addAesVersion("aes-other");
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
    return URI.create("azure-kv://contoso-hsm.managedhsm.azure.net/keys/aes-kek");
  }

  @Override
  protected URI otherCmk() {
    return URI.create("azure-kv://contoso-hsm.managedhsm.azure.net/keys/aes-other");
  }

  @Override
  protected void revoke(URI cmk) {
    KV.setEnabled("aes-kek", false);
  }

  @Override
  protected void restore(URI cmk) {
    KV.setEnabled("aes-kek", true);
  }

  @Override
  protected void failNextCallTransiently() {
    KV.failNext(TestProviders.ATTEMPTS, 500, "InternalError", Map.of());
  }

  @Override
  protected URI malformedUri() {
    return URI.create("azure-kv://contoso-hsm.managedhsm.azure.net/keys/aes-kek/v1/extra");
  }
}
