package dev.keymanager.kms.gcp;

import dev.keymanager.spi.KmsProvider;
import dev.keymanager.testkit.KmsProviderContract;
import io.grpc.Status;
import java.net.URI;
import org.junit.jupiter.api.AfterAll;

/**
 * The test kit's provider contract with the real {@code KeyManagementServiceClient} on its own
 * Netty channel to {@link FakeCloudKms} listening on 127.0.0.1 (plaintext HTTP/2), configured
 * through the provider's endpoint override. Revocation removes the caller's permission, so Cloud
 * KMS answers PERMISSION_DENIED.
 */
class LoopbackContractTest extends KmsProviderContract {
  private static final FakeCloudKms KMS = FakeCloudKms.onLoopback();
  private static final URI CMK = KMS.createKey("loopback", "ring", "cmk");
  private static final URI OTHER_CMK = KMS.createKey("loopback", "ring", "other");
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
    KMS.deny(cmk);
  }

  @Override
  protected void restore(URI cmk) {
    KMS.allow(cmk);
  }

  @Override
  protected void failNextCallTransiently() {
    KMS.failNext(3, Status.UNAVAILABLE.withDescription("injected"));
  }

  @Override
  protected URI malformedUri() {
    return URI.create("gcp-kms://projects/loopback/locations/global/keyRings/ring?key=cmk");
  }
}
