package dev.keymanager.kms.aws;

import dev.keymanager.spi.KmsProvider;
import dev.keymanager.testkit.KmsProviderContract;
import java.net.URI;
import org.junit.jupiter.api.AfterAll;

/**
 * The test kit's conformance suite, run on the real {@code KmsClient} against {@link FakeAwsKms},
 * with one provider shared by every test (as a user would hold one), CMKs named by key ARN.
 */
class AwsKmsProviderContractTest extends KmsProviderContract {
  static final FakeAwsKms KMS = FakeAwsKms.start();
  static final int ATTEMPTS = 3;
  static final AwsKmsProvider PROVIDER = KMS.providerBuilder(ATTEMPTS).build();
  static final String KEY = KMS.createKey();
  static final String OTHER_KEY = KMS.createKey();

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
    return FakeAwsKms.cmk(KEY);
  }

  @Override
  protected URI otherCmk() {
    return FakeAwsKms.cmk(OTHER_KEY);
  }

  /** As a customer would: disable the key in KMS. */
  @Override
  protected void revoke(URI cmk) {
    KMS.setState(KEY, FakeAwsKms.KeyState.DISABLED);
  }

  @Override
  protected void restore(URI cmk) {
    KMS.setState(KEY, FakeAwsKms.KeyState.ENABLED);
  }

  /** Every attempt of the next call gets a 500 KMSInternalException, so the SDK gives up. */
  @Override
  protected void failNextCallTransiently() {
    KMS.failNext(ATTEMPTS, 500, "KMSInternalException");
  }

  @Override
  protected URI malformedUri() {
    return URI.create(FakeAwsKms.cmk(KEY) + "?grantToken=x");
  }
}
