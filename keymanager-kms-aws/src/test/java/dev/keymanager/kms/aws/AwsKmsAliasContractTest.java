package dev.keymanager.kms.aws;

import dev.keymanager.spi.KmsProvider;
import dev.keymanager.testkit.KmsProviderContract;
import java.net.URI;
import org.junit.jupiter.api.AfterAll;

/**
 * The conformance suite again, with CMKs named by alias ARN: KMS answers with the key ARN the alias
 * points to, and the provider accepts that only for a key of the alias's account and region.
 */
class AwsKmsAliasContractTest extends KmsProviderContract {
  static final FakeAwsKms KMS = FakeAwsKms.start();
  static final int ATTEMPTS = 2;
  static final AwsKmsProvider PROVIDER = KMS.providerBuilder(ATTEMPTS).build();
  static final String KEY = KMS.createKey();
  static final String OTHER_KEY = KMS.createKey();

  static {
    KMS.pointAlias("orders", KEY);
    KMS.pointAlias("billing/eu", OTHER_KEY);
  }

  @AfterAll
  static void stopEndpoint() {
    PROVIDER.close();
    KMS.close();
  }

  @Override
  protected KmsProvider provider() {
    return PROVIDER;
  }

  @Override
  protected URI cmk() {
    return FakeAwsKms.aliasCmk("orders");
  }

  @Override
  protected URI otherCmk() {
    return FakeAwsKms.aliasCmk("billing/eu");
  }

  /** Withdraws access to the key behind the alias, as a key-policy change would. */
  @Override
  protected void revoke(URI cmk) {
    KMS.denyAccess(KEY, true);
  }

  @Override
  protected void restore(URI cmk) {
    KMS.denyAccess(KEY, false);
  }

  @Override
  protected void failNextCallTransiently() {
    KMS.failNext(ATTEMPTS, 400, "ThrottlingException");
  }

  @Override
  protected URI malformedUri() {
    return URI.create("aws-kms://arn:aws:kms:eu-west-1:111122223333:alias/aws/ebs");
  }
}
