package dev.keymanager.testkit;

import static org.assertj.core.api.Assertions.assertThat;

import dev.keymanager.KekState;
import dev.keymanager.testkit.LifecycleHistory.Kind;
import dev.keymanager.testkit.LifecycleHistory.Op;
import dev.keymanager.testkit.LifecycleHistory.Outcome;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

class LinearizabilityCheckerTest {
  private static final String CMK = "fake-kms://a";
  private static final String CMK_B = "fake-kms://b";
  private static final LinearizabilityChecker CHECKER =
      new LinearizabilityChecker(Duration.ofNanos(100));

  private final List<Op> history = new ArrayList<>();

  private void created(String node, long from, long to) {
    history.add(new Op(node, Kind.CREATE, "k", CMK, from, to, Outcome.OK, null, 1, 0, CMK));
  }

  private void rotated(String node, long from, long to, int version) {
    history.add(new Op(node, Kind.ROTATE, "k", "-", from, to, Outcome.OK, null, version, 0, CMK));
  }

  private void described(
      String node, Kind kind, long from, long to, KekState state, int primary, int minimum) {
    String argument = kind == Kind.SET_MINIMUM ? Integer.toString(minimum) : "-";
    history.add(
        new Op(node, kind, "k", argument, from, to, Outcome.OK, state, primary, minimum, "-"));
  }

  private void refused(String node, Kind kind, long from, long to, KekState state) {
    history.add(new Op(node, kind, "k", "-", from, to, Outcome.REFUSED, state, 0, 0, "-"));
  }

  private void wrapped(String node, long from, long to, int version) {
    history.add(new Op(node, Kind.WRAP, "k", "-", from, to, Outcome.OK, null, version, 0, "-"));
  }

  private LinearizabilityChecker.Report check() {
    return CHECKER.check(history);
  }

  @Test
  void overlappingChangesAreOrderedEitherWay() {
    created("a", 0, 1);
    // A disable and an enable overlap: either order explains them if the reads agree.
    described("a", Kind.DISABLE, 2, 10, KekState.DISABLED, 1, 1);
    described("b", Kind.ENABLE, 3, 9, KekState.ENABLED, 1, 1);
    described("c", Kind.DESCRIBE, 11, 12, KekState.DISABLED, 1, 1);
    refused("c", Kind.ROTATE, 13, 14, KekState.DISABLED);

    LinearizabilityChecker.Report report = check();

    assertThat(report.violations()).isEmpty();
    assertThat(report.ops()).isEqualTo(5);
    assertThat(report.keks()).isEqualTo(1);
  }

  @Test
  void aRotationThatSucceededAfterADisableReturnedIsAViolation() {
    created("a", 0, 1);
    described("a", Kind.DISABLE, 2, 3, KekState.DISABLED, 1, 1);
    rotated("c", 4, 5, 2);

    assertThat(check().violations()).hasSize(1).first().asString().contains("no serial order");
  }

  @Test
  void aDescriptionThatContradictsItsOwnWriteIsAViolation() {
    created("a", 0, 1);
    rotated("r", 2, 3, 2);
    // The disable's write made v2 primary DISABLED; a listing that shows v1 is not that write.
    described("a", Kind.DISABLE, 4, 5, KekState.DISABLED, 1, 1);

    assertThat(check().violations()).hasSize(1);
  }

  @Test
  void aStaleReadAfterAChangeReturnedIsAViolation() {
    created("a", 0, 1);
    described("a", Kind.DISABLE, 2, 3, KekState.DISABLED, 1, 1);
    described("b", Kind.ENABLE, 4, 5, KekState.ENABLED, 1, 1);
    described("c", Kind.DESCRIBE, 6, 7, KekState.DISABLED, 1, 1);

    assertThat(check().violations()).hasSize(1);
  }

  @Test
  void minimumAndCmkChangesFollowTheModel() {
    created("a", 0, 1);
    rotated("a", 2, 3, 2);
    described("b", Kind.SET_MINIMUM, 4, 5, KekState.ENABLED, 2, 2);
    history.add(
        new Op("b", Kind.CHANGE_CMK, "k", CMK_B, 6, 7, Outcome.OK, KekState.ENABLED, 2, 2, "-"));
    // A rotation after the change of CMK wraps under the new CMK, not the old one.
    history.add(new Op("c", Kind.ROTATE, "k", "-", 8, 9, Outcome.OK, null, 3, 0, CMK));

    assertThat(check().violations()).hasSize(1);
  }

  @Test
  void destructionIsFinal() {
    created("a", 0, 1);
    described("a", Kind.SCHEDULE_DESTRUCTION, 2, 3, KekState.PENDING_DESTRUCTION, 1, 1);
    described("a", Kind.DESTROY, 4, 5, KekState.DESTROYED, 1, 1);
    described("b", Kind.CANCEL_DESTRUCTION, 6, 7, KekState.DISABLED, 1, 1);

    assertThat(check().violations()).hasSize(1);
  }

  @Test
  void aWrapOnTheDisablingNodeAfterItsDisableReturnedIsAViolation() {
    created("a", 0, 1);
    described("a", Kind.DISABLE, 2, 3, KekState.DISABLED, 1, 1);
    wrapped("a", 4, 5, 1);

    LinearizabilityChecker.Report report = check();

    assertThat(report.wraps()).isEqualTo(1);
    assertThat(report.violations()).hasSize(1).first().asString().contains("forbidding v1");
  }

  @Test
  void anotherNodeMayWrapUnderItsCachedPrimaryWithinTheBoundOnly() {
    created("a", 0, 1);
    described("a", Kind.DISABLE, 2, 3, KekState.DISABLED, 1, 1);
    wrapped("b", 50, 51, 1); // within 100 ns of the disable's return: the hard-TTL bound
    assertThat(check().violations()).isEmpty();

    wrapped("b", 200, 201, 1);
    assertThat(check().violations()).hasSize(1);
  }

  @Test
  void aNodeThatOnlyReadADisableKeepsTheBoundForItsCachedPrimary() {
    created("a", 0, 1);
    described("b", Kind.DISABLE, 2, 3, KekState.DISABLED, 1, 1);
    described("a", Kind.DESCRIBE, 4, 5, KekState.DISABLED, 1, 1);
    wrapped("a", 50, 51, 1); // a's describe did not drop its cached primary: the bound applies
    assertThat(check().violations()).isEmpty();

    wrapped("a", 200, 201, 1);
    assertThat(check().violations()).hasSize(1);
  }

  @Test
  void aWrapAfterAnOverlappingEnableIsAllowed() {
    created("a", 0, 1);
    described("a", Kind.DISABLE, 2, 3, KekState.DISABLED, 1, 1);
    described("b", Kind.ENABLE, 2, 300, KekState.ENABLED, 1, 1);
    wrapped("a", 200, 201, 1);

    assertThat(check().violations()).isEmpty();
  }

  @Test
  void aWrapBelowTheMinimumIsForbidden() {
    created("a", 0, 1);
    rotated("a", 2, 3, 2);
    described("a", Kind.SET_MINIMUM, 4, 5, KekState.ENABLED, 2, 2);
    wrapped("a", 6, 7, 1);

    assertThat(check().violations()).hasSize(1);
  }

  @Test
  void failuresAreCountedNotJudged() {
    created("a", 0, 1);
    history.add(
        new Op("a", Kind.ROTATE, "k", "-", 2, 3, Outcome.FAILED, null, 0, 0, "KekStoreException"));

    LinearizabilityChecker.Report report = check();

    assertThat(report.failed()).isEqualTo(1);
    assertThat(report.ops()).isEqualTo(1);
  }

  @Test
  void operationsSurviveTheirTextForm() {
    Op op =
        new Op("n1", Kind.SET_MINIMUM, "k-1", "2", 10, 20, Outcome.OK, KekState.ENABLED, 3, 2, "-");

    assertThat(Op.parse(op.toLine())).isEqualTo(op);
  }
}
