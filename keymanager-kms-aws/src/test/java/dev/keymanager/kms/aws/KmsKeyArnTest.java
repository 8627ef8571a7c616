package dev.keymanager.kms.aws;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.keymanager.KeyManagerConfigException;
import java.net.URI;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class KmsKeyArnTest {
  private static final String KEY_ARN =
      "arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";

  @Test
  void keyArnGivesRegionAccountAndTheArnItself() {
    KmsKeyArn arn = KmsKeyArn.parse(URI.create("aws-kms://" + KEY_ARN));

    assertThat(arn.partition()).isEqualTo("aws");
    assertThat(arn.region()).isEqualTo("eu-west-1");
    assertThat(arn.account()).isEqualTo("111122223333");
    assertThat(arn.alias()).isFalse();
    assertThat(arn.arn()).isEqualTo(KEY_ARN);
  }

  @ParameterizedTest
  @ValueSource(
      strings = {
        "arn:aws-cn:kms:cn-north-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab",
        "arn:aws-us-gov:kms:us-gov-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab",
        "arn:aws:kms:ap-southeast-5:111122223333:key/mrk-1234abcd12ab34cd56ef1234567890ab",
        "arn:aws:kms:us-east-1:111122223333:alias/orders",
        "arn:aws:kms:us-east-1:111122223333:alias/team_a/orders-eu"
      })
  void otherPartitionsMultiRegionKeysAndAliasesParse(String arnText) {
    KmsKeyArn arn = KmsKeyArn.parse(URI.create("aws-kms://" + arnText));

    assertThat(arn.arn()).isEqualTo(arnText);
    assertThat(arn.alias()).isEqualTo(arnText.contains(":alias/"));
  }

  @ParameterizedTest
  @ValueSource(
      strings = {
        "aws-kms://1234abcd-12ab-34cd-56ef-1234567890ab",
        "aws-kms://alias/orders",
        "aws-kms://arn:aws:kms:eu-west-1:111122223333:key/",
        "aws-kms://arn:aws:kms:eu-west-1:111122223333:key/abc/def",
        "aws-kms://arn:aws:kms:eu-west-1:11112222333:key/abc",
        "aws-kms://arn:aws:s3:eu-west-1:111122223333:key/abc",
        "aws-kms://arn:aws:kms::111122223333:key/abc",
        "aws-kms://arn:aws:kms:eu-west-1:111122223333:grant/abc",
        "aws-kms://arn:aws:kms:eu-west-1:111122223333:key/abc?x=1",
        "aws-kms://arn:aws:kms:eu-west-1:111122223333:key/abc#frag",
        "aws-kms://arn:aws:kms:eu-west-1:111122223333:alias/aws/ebs",
        "aws-kms:arn:aws:kms:eu-west-1:111122223333:key/abc",
        "gcp-kms://arn:aws:kms:eu-west-1:111122223333:key/abc"
      })
  void anythingButAFullKeyOrAliasArnIsAConfigurationError(String uri) {
    assertThatThrownBy(() -> KmsKeyArn.parse(URI.create(uri)))
        .isInstanceOf(KeyManagerConfigException.class)
        .hasMessageContaining("aws-kms")
        .hasMessageContaining(uri)
        .hasMessageContaining("expected aws-kms://arn:PARTITION:kms:REGION:ACCOUNT:key/KEY-ID");
  }

  @Test
  void aKeyArnAcceptsOnlyItselfInAResponse() {
    KmsKeyArn arn = KmsKeyArn.parse(URI.create("aws-kms://" + KEY_ARN));

    assertThat(arn.acceptsResponseKeyId(KEY_ARN)).isTrue();
    assertThat(arn.acceptsResponseKeyId(KEY_ARN.replace("1234abcd-", "9999abcd-"))).isFalse();
    assertThat(arn.acceptsResponseKeyId("1234abcd-12ab-34cd-56ef-1234567890ab")).isFalse();
    assertThat(arn.acceptsResponseKeyId(null)).isFalse();
  }

  @Test
  void anAliasArnAcceptsAnyKeyArnOfItsPartitionRegionAndAccount() {
    KmsKeyArn arn =
        KmsKeyArn.parse(URI.create("aws-kms://arn:aws:kms:eu-west-1:111122223333:alias/orders"));

    assertThat(arn.acceptsResponseKeyId(KEY_ARN)).isTrue();
    assertThat(arn.acceptsResponseKeyId(KEY_ARN.replace("111122223333", "444455556666")))
        .as("another account")
        .isFalse();
    assertThat(arn.acceptsResponseKeyId(KEY_ARN.replace("eu-west-1", "eu-west-2")))
        .as("another region")
        .isFalse();
    assertThat(arn.acceptsResponseKeyId(KEY_ARN.replace("arn:aws:", "arn:aws-cn:")))
        .as("another partition")
        .isFalse();
    assertThat(arn.acceptsResponseKeyId(arn.arn())).as("an alias is not a key").isFalse();
  }
}
