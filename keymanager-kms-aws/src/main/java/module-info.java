/**
 * The {@code aws-kms} KMS provider: {@link dev.keymanager.kms.aws.AwsKmsProvider}, on the AWS SDK
 * for Java v2 with the JDK-based {@code url-connection-client}.
 */
module dev.keymanager.kms.aws {
  requires transitive dev.keymanager.api;
  // The builder takes these SDK types, so users need them readable. The SDK ships automatic
  // modules only, hence javac's "requires transitive directive for an automatic module" warnings.
  requires transitive software.amazon.awssdk.auth;
  requires transitive software.amazon.awssdk.http;
  requires transitive software.amazon.awssdk.retries.api;
  requires software.amazon.awssdk.awscore;
  requires software.amazon.awssdk.core;
  requires software.amazon.awssdk.regions;
  requires software.amazon.awssdk.services.kms;
  requires software.amazon.awssdk.http.urlconnection;
  requires org.slf4j;

  exports dev.keymanager.kms.aws;

  provides dev.keymanager.spi.KmsProvider with
      dev.keymanager.kms.aws.AwsKmsProvider;
}
