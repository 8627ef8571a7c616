package dev.keymanager.kms.gcp;

import com.google.cloud.kms.v1.CryptoKeyVersion.CryptoKeyVersionState;
import dev.keymanager.spi.KmsProvider;
import dev.keymanager.testkit.KmsProviderContract;
import io.grpc.Status;
import java.net.URI;
import org.junit.jupiter.api.AfterAll;

/**
 * The test kit's provider contract with the real {@code KeyManagementServiceClient} over an
 * in-process gRPC channel to {@link FakeCloudKms}. Revocation disables the key's primary version,
 * so Cloud KMS answers FAILED_PRECONDITION. One server and provider serve every test.
 */
class InProcessContractTest extends KmsProviderContract {
  private static final FakeCloudKms KMS = FakeCloudKms.inProcess();
  private static final URI CMK = KMS.createKey("contract", "ring", "cmk");
  private static final URI OTHER_CMK = KMS.createKey("contract", "ring", "other");
  private static final GcpKmsProvider PROVIDER = KMS.providerBuilder().build();

  @AfterAll
  static void stop() {
    PROVIDER.close();
    KMS.close();
  }

  @Override
  protected KmsProvider provider() {
    return PROVIDER;
  }

  @Override
  protected URI cmk() {
    return CMK;
  }

  @Override
  protected URI otherCmk() {
    return OTHER_CMK;
  }

  @Override
  protected void revoke(URI cmk) {
    KMS.setState(cmk, 1, CryptoKeyVersionState.DISABLED);
  }

  @Override
  protected void restore(URI cmk) {
    KMS.setState(cmk, 1, CryptoKeyVersionState.ENABLED);
  }

  @Override
  protected void failNextCallTransiently() {
    // Every attempt the client makes for that one call (maxAttempts 3 in providerBuilder()).
    KMS.failNext(3, Status.UNAVAILABLE.withDescription("injected"));
  }

  @Override
  protected URI malformedUri() {
    return URI.create(
        "gcp-kms://projects/contract/locations/global/keyRings/ring/cryptoKeys/cmk"
            + "/cryptoKeyVersions/1");
  }
}
