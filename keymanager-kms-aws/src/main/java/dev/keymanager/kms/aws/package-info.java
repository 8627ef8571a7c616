/**
 * The {@code aws-kms} provider: {@link dev.keymanager.kms.aws.AwsKmsProvider} wraps KEKs with AWS
 * KMS {@code Encrypt} and unwraps them with {@code Decrypt}. Add the module to the class path and a
 * key manager finds it with {@link java.util.ServiceLoader}, or configure one with {@link
 * dev.keymanager.kms.aws.AwsKmsProvider#builder()} and pass it to the key manager's builder.
 *
 * <p>Dependencies: the AWS SDK v2 {@code kms} client (with its core, auth, regions and JSON
 * protocol modules) and {@code url-connection-client}; the SDK's Apache and Netty HTTP clients are
 * excluded. As in {@code dev.keymanager}, nothing is {@code null} unless documented.
 */
package dev.keymanager.kms.aws;
