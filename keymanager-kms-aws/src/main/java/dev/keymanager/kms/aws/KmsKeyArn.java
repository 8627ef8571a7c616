package dev.keymanager.kms.aws;

import dev.keymanager.KeyManagerConfigException;
import java.net.URI;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The AWS KMS key or alias that an {@code aws-kms} URI names, parsed from its ARN.
 *
 * <p>Only full ARNs are accepted, never a bare key id or alias name: the ARN carries the region the
 * request must go to and the account that owns the key, so a URI always means the same key whatever
 * the caller's default region or credentials.
 *
 * @param partition {@code aws}, {@code aws-cn}, {@code aws-us-gov}, ...
 * @param region the key's region, such as {@code eu-west-1}
 * @param account the 12-digit id of the account that owns the key
 * @param alias whether the ARN names an alias ({@code alias/NAME}) rather than a key ({@code
 *     key/ID})
 * @param resource {@code key/ID} or {@code alias/NAME}, as in the ARN
 */
record KmsKeyArn(String partition, String region, String account, boolean alias, String resource) {
  static final String EXPECTED_FORM =
      "expected aws-kms://arn:PARTITION:kms:REGION:ACCOUNT:key/KEY-ID"
          + " or aws-kms://arn:PARTITION:kms:REGION:ACCOUNT:alias/ALIAS-NAME,"
          + " with no query or fragment";

  // Key ids are UUIDs or, for multi-Region keys, "mrk-" and 32 hex digits; alias names are
  // [A-Za-z0-9/_-] up to 256 characters (the "alias/" prefix included). Both are kept loose enough
  // for future id formats and strict enough that no stray path, query or whitespace gets through.
  private static final Pattern ARN =
      Pattern.compile(
          "arn:(aws[a-z-]{0,20}):kms:([a-z]{2}(?:-[a-z0-9]+){1,4}):([0-9]{12}):"
              + "(?:(key)/([A-Za-z0-9-]{1,128})|(alias)/([A-Za-z0-9/_-]{1,250}))");
  private static final Pattern KEY_ARN =
      Pattern.compile("arn:(aws[a-z-]{0,20}):kms:([a-z0-9-]+):([0-9]{12}):key/([A-Za-z0-9-]+)");

  /**
   * Parses the ARN of an {@code aws-kms} URI.
   *
   * @throws KeyManagerConfigException naming the scheme and the expected form if the URI is not an
   *     {@code aws-kms} URI holding a KMS key or alias ARN
   */
  static KmsKeyArn parse(URI uri) {
    if (!AwsKmsProvider.SCHEME.equalsIgnoreCase(uri.getScheme())
        || uri.isOpaque()
        || uri.getRawQuery() != null
        || uri.getRawFragment() != null) {
      throw malformed(uri);
    }
    String ssp = uri.getRawSchemeSpecificPart(); // "//arn:aws:kms:..."
    if (!ssp.startsWith("//")) {
      throw malformed(uri);
    }
    Matcher m = ARN.matcher(ssp.substring(2));
    if (!m.matches() || (m.group(7) != null && m.group(7).startsWith("aws/"))) {
      // "alias/aws/..." names an AWS managed key: its key policy lets only the AWS service that
      // owns it use the key, so it can never wrap a KEK.
      throw malformed(uri);
    }
    boolean alias = m.group(6) != null;
    String resource = alias ? "alias/" + m.group(7) : "key/" + m.group(5);
    return new KmsKeyArn(m.group(1), m.group(2), m.group(3), alias, resource);
  }

  /** The ARN, as sent as the {@code KeyId} of a request. */
  String arn() {
    return "arn:" + partition + ":kms:" + region + ":" + account + ":" + resource;
  }

  /**
   * Whether a response's {@code KeyId} names the key this ARN asked for. KMS answers with the key
   * ARN of the key it used. For a key ARN that must be this very ARN. An alias resolves to
   * whichever key it points to at the time of the request, so for an alias ARN the most that can be
   * checked is that the answer is a key ARN of the same partition, region and account.
   */
  boolean acceptsResponseKeyId(String keyId) {
    if (keyId == null) {
      return false;
    }
    if (!alias) {
      return keyId.equals(arn());
    }
    Matcher m = KEY_ARN.matcher(keyId);
    return m.matches()
        && m.group(1).equals(partition)
        && m.group(2).equals(region)
        && m.group(3).equals(account);
  }

  private static KeyManagerConfigException malformed(URI uri) {
    return new KeyManagerConfigException(
        "Malformed aws-kms CMK URI '"
            + uri
            + "': "
            + EXPECTED_FORM
            + " (AWS managed keys, alias/aws/*, cannot be used)");
  }
}
