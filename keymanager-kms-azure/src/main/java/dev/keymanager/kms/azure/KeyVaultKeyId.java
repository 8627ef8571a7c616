package dev.keymanager.kms.azure;

import dev.keymanager.KeyManagerConfigException;
import java.net.URI;
import java.util.List;
import java.util.Locale;
import java.util.Optional;

/**
 * A parsed {@code azure-kv://HOST/keys/NAME[/VERSION]} URI: a Key Vault ({@code
 * VAULT.vault.azure.net} and the sovereign-cloud suffixes) or Managed HSM ({@code
 * HSM.managedhsm.azure.net}) key, optionally pinned to one version.
 */
record KeyVaultKeyId(URI uri, String host, String name, Optional<String> version) {
  static final String FORM =
      "azure-kv://VAULT.vault.azure.net/keys/NAME[/VERSION] or"
          + " azure-kv://HSM.managedhsm.azure.net/keys/NAME[/VERSION]";

  /** DNS suffixes of Key Vault and Managed HSM in the public and sovereign clouds. */
  static final List<String> HOST_SUFFIXES =
      List.of(
          ".vault.azure.net",
          ".vault.azure.cn",
          ".vault.usgovcloudapi.net",
          ".vault.microsoftazure.de",
          ".managedhsm.azure.net",
          ".managedhsm.azure.cn",
          ".managedhsm.usgovcloudapi.net");

  static KeyVaultKeyId parse(URI uri) {
    if (uri.getScheme() == null
        || !AzureKeyVaultKmsProvider.SCHEME.equalsIgnoreCase(uri.getScheme())) {
      throw malformed(uri, "scheme is not " + AzureKeyVaultKmsProvider.SCHEME);
    }
    if (uri.isOpaque()
        || uri.getRawQuery() != null
        || uri.getRawFragment() != null
        || uri.getRawUserInfo() != null
        || uri.getPort() != -1) {
      throw malformed(uri, "no query, fragment, user info or port allowed");
    }
    String host = uri.getHost();
    if (host == null) {
      throw malformed(uri, "no vault host");
    }
    host = host.toLowerCase(Locale.ROOT);
    String vaultHost = host;
    boolean known =
        HOST_SUFFIXES.stream()
            .anyMatch(s -> vaultHost.endsWith(s) && vaultHost.length() > s.length());
    if (!known || host.indexOf('.') != host.length() - suffixOf(host).length()) {
      throw malformed(uri, "host is not a Key Vault or Managed HSM host");
    }
    String path = uri.getRawPath();
    String[] parts = path == null ? new String[0] : path.split("/", -1);
    // "", "keys", NAME [, VERSION]
    if (parts.length < 3 || parts.length > 4 || !parts[0].isEmpty() || !"keys".equals(parts[1])) {
      throw malformed(uri, "path must be /keys/NAME or /keys/NAME/VERSION");
    }
    String name = parts[2];
    if (!WrappedBlob.isValidKeyName(name)) {
      throw malformed(uri, "key name must be 1-127 letters, digits or dashes");
    }
    Optional<String> version = Optional.empty();
    if (parts.length == 4) {
      if (!WrappedBlob.isValidVersion(parts[3])) {
        throw malformed(uri, "key version must be letters and digits");
      }
      version = Optional.of(parts[3]);
    }
    return new KeyVaultKeyId(uri, host, name, version);
  }

  private static String suffixOf(String host) {
    return HOST_SUFFIXES.stream().filter(host::endsWith).findFirst().orElse("");
  }

  boolean isManagedHsm() {
    return host.contains(".managedhsm.");
  }

  /** The HTTPS key identifier of {@code keyVersion} of this key, against {@code base}. */
  String keyUrl(URI base, String keyVersion) {
    return base + "/keys/" + name + (keyVersion.isEmpty() ? "" : "/" + keyVersion);
  }

  /** The real service endpoint, {@code https://HOST}. */
  URI serviceEndpoint() {
    return URI.create("https://" + host);
  }

  private static KeyManagerConfigException malformed(URI uri, String why) {
    return new KeyManagerConfigException(
        "Malformed "
            + AzureKeyVaultKmsProvider.SCHEME
            + " CMK URI '"
            + uri
            + "': "
            + why
            + ". Expected "
            + FORM);
  }
}
