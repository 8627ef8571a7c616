package dev.keymanager.kms.azure;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.keymanager.KeyManagerConfigException;
import java.net.URI;
import org.junit.jupiter.api.Test;

class KeyVaultKeyIdTest {
  @Test
  void parsesVaultAndManagedHsmKeysWithAndWithoutVersion() {
    KeyVaultKeyId a =
        KeyVaultKeyId.parse(URI.create("azure-kv://Contoso.vault.azure.net/keys/kek"));
    KeyVaultKeyId b =
        KeyVaultKeyId.parse(
            URI.create(
                "azure-kv://hsm1.managedhsm.azure.net/keys/kek-1/78deebed173b48e48f55abf87ed4cf71"));

    assertThat(a.host()).isEqualTo("contoso.vault.azure.net");
    assertThat(a.name()).isEqualTo("kek");
    assertThat(a.version()).isEmpty();
    assertThat(a.isManagedHsm()).isFalse();
    assertThat(a.serviceEndpoint()).isEqualTo(URI.create("https://contoso.vault.azure.net"));
    assertThat(b.isManagedHsm()).isTrue();
    assertThat(b.version()).contains("78deebed173b48e48f55abf87ed4cf71");
    assertThat(b.keyUrl(b.serviceEndpoint(), "v9"))
        .isEqualTo("https://hsm1.managedhsm.azure.net/keys/kek-1/v9");
  }

  @Test
  void acceptsSovereignCloudHosts() {
    for (String host :
        new String[] {"v.vault.azure.cn", "v.vault.usgovcloudapi.net", "h.managedhsm.azure.cn"}) {
      assertThat(KeyVaultKeyId.parse(URI.create("azure-kv://" + host + "/keys/k")).host())
          .isEqualTo(host);
    }
  }

  @Test
  void rejectsMalformedUrisNamingTheExpectedForm() {
    String[] bad = {
      "azure-kv://vault.azure.net/keys/k", // no vault label
      "azure-kv://a.b.vault.azure.net/keys/k", // two labels
      "azure-kv://evil.example.com/keys/k",
      "azure-kv://v.vault.azure.net.evil.com/keys/k",
      "azure-kv://v.vault.azure.net:8443/keys/k",
      "azure-kv://user@v.vault.azure.net/keys/k",
      "azure-kv://v.vault.azure.net/secrets/k",
      "azure-kv://v.vault.azure.net/keys/",
      "azure-kv://v.vault.azure.net/keys",
      "azure-kv://v.vault.azure.net/keys/k/v1/extra",
      "azure-kv://v.vault.azure.net/keys/k?version=1",
      "azure-kv://v.vault.azure.net/keys/k#x",
      "azure-kv://v.vault.azure.net/keys/k_1",
      "azure-kv://v.vault.azure.net/keys/k/v-1",
      "azure-kv://v.vault.azure.net/keys/k/..",
      "azure-kv:opaque",
      "aws-kms://v.vault.azure.net/keys/k",
    };
    for (String uri : bad) {
      assertThatThrownBy(() -> KeyVaultKeyId.parse(URI.create(uri)))
          .as(uri)
          .isInstanceOf(KeyManagerConfigException.class)
          .hasMessageContaining("azure-kv")
          .hasMessageContaining("Expected azure-kv://VAULT.vault.azure.net/keys/NAME[/VERSION]");
    }
  }
}
