package dev.keymanager.examples;

import static com.tngtech.archunit.lang.syntax.ArchRuleDefinition.classes;
import static com.tngtech.archunit.lang.syntax.ArchRuleDefinition.noClasses;

import com.tngtech.archunit.core.domain.JavaClasses;
import com.tngtech.archunit.core.importer.ClassFileImporter;
import com.tngtech.archunit.core.importer.ImportOption;
import org.junit.jupiter.api.Test;

/**
 * The module boundaries of DESIGN.md, checked on the compiled classes of every module on this
 * module's class path. Arrows point down: api at the bottom, depending on the JDK alone.
 */
class LayeringTest {
  private static final JavaClasses CLASSES =
      new ClassFileImporter()
          .withImportOption(ImportOption.Predefined.DO_NOT_INCLUDE_TESTS)
          .importPackages("dev.keymanager");

  private static final String[] VENDOR_SDKS = {
    "software.amazon..",
    "com.amazonaws..",
    "com.google.cloud..",
    "com.google.api..",
    "io.grpc..",
    "com.azure..",
    "com.microsoft.."
  };

  @Test
  void apiDependsOnTheJdkAlone() {
    classes()
        .that()
        .resideInAnyPackage("dev.keymanager", "dev.keymanager.spi", "dev.keymanager.internal")
        .should()
        .onlyDependOnClassesThat()
        .resideInAnyPackage(
            "java..", "javax..", "dev.keymanager", "dev.keymanager.spi", "dev.keymanager.internal")
        .check(CLASSES);
  }

  @Test
  void coreNeverImportsAVendorKmsSdk() {
    noClasses()
        .that()
        .resideInAPackage("dev.keymanager.core..")
        .should()
        .dependOnClassesThat()
        .resideInAnyPackage(VENDOR_SDKS)
        .check(CLASSES);
  }

  @Test
  void nothingOutsideCoreUsesItsInternals() {
    noClasses()
        .that()
        .resideOutsideOfPackage("dev.keymanager.core..")
        .should()
        .dependOnClassesThat()
        .resideInAPackage("dev.keymanager.core.internal..")
        .check(CLASSES);
  }

  @Test
  void onlyCoreUsesTheApiBridge() {
    noClasses()
        .that()
        .resideOutsideOfPackages(
            "dev.keymanager", "dev.keymanager.internal", "dev.keymanager.core..")
        .should()
        .dependOnClassesThat()
        .resideInAPackage("dev.keymanager.internal")
        .check(CLASSES);
  }

  @Test
  void testkitAndKmsModulesNeverImportCore() {
    noClasses()
        .that()
        .resideInAnyPackage("dev.keymanager.testkit..", "dev.keymanager.kms..")
        .should()
        .dependOnClassesThat()
        .resideInAPackage("dev.keymanager.core..")
        .check(CLASSES);
  }

  /** SLF4J is the one logging facade of every module that logs (issue 20). */
  @Test
  void storeModulesDependOnTheApiTheJdkAndSlf4jAlone() {
    classes()
        .that()
        .resideInAPackage("dev.keymanager.store..")
        .and()
        .haveNameNotMatching(CHANGE_FEED)
        .should()
        .onlyDependOnClassesThat()
        .resideInAnyPackage(
            "java..",
            "javax..",
            "org.slf4j..",
            "dev.keymanager",
            "dev.keymanager.spi",
            "dev.keymanager.store..")
        .check(CLASSES);
  }

  // The PostgreSQL change feed alone reads notifications through pgjdbc (an optional dependency).
  private static final String CHANGE_FEED =
      "dev\\.keymanager\\.store\\.jdbc\\.PgChangeFeed(\\$.*)?";

  @Test
  void onlyTheChangeFeedUsesTheJdbcDriver() {
    classes()
        .that()
        .haveNameMatching(CHANGE_FEED)
        .should()
        .onlyDependOnClassesThat()
        .resideInAnyPackage(
            "java..",
            "javax..",
            "org.slf4j..",
            "org.postgresql..",
            "dev.keymanager",
            "dev.keymanager.spi",
            "dev.keymanager.store..")
        .check(CLASSES);
  }

  @Test
  void theMetricsBindingDependsOnTheApiAndMicrometerAlone() {
    classes()
        .that()
        .resideInAPackage("dev.keymanager.micrometer..")
        .should()
        .onlyDependOnClassesThat()
        .resideInAnyPackage(
            "java..",
            "io.micrometer..",
            "dev.keymanager",
            "dev.keymanager.spi",
            "dev.keymanager.micrometer..")
        .check(CLASSES);
  }

  /** No module logs through another facade than SLF4J. */
  @Test
  void nothingLogsThroughJulOrSystemLogger() {
    noClasses()
        .that()
        .resideInAPackage("dev.keymanager..")
        .should()
        .dependOnClassesThat()
        .resideInAPackage("java.util.logging..")
        .orShould()
        .dependOnClassesThat()
        .belongToAnyOf(System.Logger.class, System.LoggerFinder.class)
        .check(CLASSES);
  }
}
