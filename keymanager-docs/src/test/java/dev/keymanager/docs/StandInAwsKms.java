package dev.keymanager.docs;

import dev.keymanager.spi.KmsProvider;
import dev.keymanager.spi.KmsUnwrapper;
import dev.keymanager.spi.KmsWrapper;
import dev.keymanager.testkit.FakeKms;
import java.net.URI;
import java.util.Optional;

/**
 * A stand-in for {@code keymanager-kms-aws} when the README sample runs: it claims the {@code
 * aws-kms} scheme and lets {@link FakeKms} do the work, so the sample runs exactly as written,
 * through discovery, without an AWS endpoint. Registered only in the class loader the run builds.
 */
public final class StandInAwsKms implements KmsProvider {
  private static final URI STAND_IN = FakeKms.cmk("aws-stand-in");
  private final FakeKms fake = new FakeKms();

  @Override
  public String scheme() {
    return "aws-kms";
  }

  @Override
  public KmsUnwrapper unwrapper(URI cmkUri) {
    return fake.unwrapper(STAND_IN);
  }

  @Override
  public Optional<KmsWrapper> wrapper(URI cmkUri) {
    return fake.wrapper(STAND_IN);
  }
}
