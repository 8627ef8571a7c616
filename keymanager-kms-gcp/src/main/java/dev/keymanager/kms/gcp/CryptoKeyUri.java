package dev.keymanager.kms.gcp;

import static java.util.Objects.requireNonNull;

import dev.keymanager.KeyManagerConfigException;
import java.net.URI;
import java.util.Locale;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A parsed {@code gcp-kms://projects/P/locations/L/keyRings/R/cryptoKeys/K} URI: the CMK URI as the
 * caller wrote it, and the Cloud KMS resource name of the CryptoKey it names.
 *
 * <p>The URI names a CryptoKey, never a CryptoKeyVersion: Decrypt takes only the CryptoKey (the
 * ciphertext records its version), and Encrypt on the CryptoKey uses its primary version, so a key
 * rotated in Cloud KMS keeps working.
 */
record CryptoKeyUri(URI uri, String resourceName) {
  static final String SCHEME = "gcp-kms";

  static final String EXPECTED_FORM =
      "expected "
          + SCHEME
          + "://projects/PROJECT/locations/LOCATION/keyRings/RING/cryptoKeys/KEY"
          + " (a CryptoKey, not a version; no query or fragment)";

  // Project ids may be domain-scoped ("example.com:proj"); ring and key ids are
  // [a-zA-Z0-9_-]{1,63}.
  private static final Pattern RESOURCE =
      Pattern.compile(
          "projects/([a-z0-9][a-z0-9.:-]{0,99})"
              + "/locations/([a-z0-9][a-z0-9-]{0,62})"
              + "/keyRings/([a-zA-Z0-9_-]{1,63})"
              + "/cryptoKeys/([a-zA-Z0-9_-]{1,63})");

  CryptoKeyUri {
    requireNonNull(uri, "uri");
    requireNonNull(resourceName, "resourceName");
  }

  /**
   * Parses {@code uri}.
   *
   * @throws KeyManagerConfigException if it is not of the {@code gcp-kms} form, naming the form
   */
  static CryptoKeyUri parse(URI uri) {
    requireNonNull(uri, "uri");
    if (uri.getScheme() == null || !SCHEME.equals(uri.getScheme().toLowerCase(Locale.ROOT))) {
      throw malformed(uri, "wrong scheme");
    }
    if (uri.isOpaque()) {
      throw malformed(uri, "missing //");
    }
    if (uri.getRawQuery() != null || uri.getRawFragment() != null) {
      throw malformed(uri, "a query or fragment is not allowed");
    }
    // Raw parts: percent-encoded characters are never valid in a resource name, so they fail the
    // pattern instead of being decoded into one.
    String authority = uri.getRawAuthority();
    String path = uri.getRawPath();
    if (authority == null || path == null) {
      throw malformed(uri, "missing resource name");
    }
    String name = authority + path;
    if (name.contains("/cryptoKeyVersions/")) {
      throw malformed(uri, "name the CryptoKey, not one of its versions");
    }
    Matcher m = RESOURCE.matcher(name);
    if (!m.matches()) {
      throw malformed(uri, "not a CryptoKey resource name");
    }
    return new CryptoKeyUri(uri, name);
  }

  private static KeyManagerConfigException malformed(URI uri, String why) {
    return new KeyManagerConfigException(
        "Malformed " + SCHEME + " CMK URI '" + uri + "' (" + why + "): " + EXPECTED_FORM);
  }

  /** Whether {@code versionName} (from an Encrypt response) is a version of this CryptoKey. */
  boolean isVersionOfThisKey(String versionName) {
    String prefix = resourceName + "/cryptoKeyVersions/";
    if (!versionName.startsWith(prefix) || versionName.length() == prefix.length()) {
      return false;
    }
    for (int i = prefix.length(); i < versionName.length(); i++) {
      char c = versionName.charAt(i);
      if (c < '0' || c > '9') {
        return false;
      }
    }
    return true;
  }
}
