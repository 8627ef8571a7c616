package dev.keymanager.store.jdbc;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.junit.jupiter.api.Test;

class PrintSchemaTest {
  @Test
  void printsTheDdlForTheDefaultsOrTheGivenNames() {
    assertThat(PrintSchema.ddl())
        .isEqualTo(JdbcKekStore.builder().schemaDdl())
        .contains("CREATE TABLE \"public\".\"keymanager_kek\" (")
        .contains("INSERT INTO \"public\".\"keymanager_kek_schema_version\"");
    assertThat(PrintSchema.ddl("kms", "keks"))
        .isEqualTo(JdbcKekStore.builder().schema("kms").table("keks").schemaDdl())
        .startsWith("-- keymanager-store-jdbc schema for kms.keks, version 2\n")
        .contains("CREATE SCHEMA IF NOT EXISTS \"kms\";");
  }

  @Test
  void rejectsBadNamesAndExtraArguments() {
    assertThatThrownBy(() -> PrintSchema.ddl("kms\"; DROP SCHEMA kms; --"))
        .isInstanceOf(IllegalArgumentException.class);
    assertThatThrownBy(() -> PrintSchema.ddl("a", "b", "c"))
        .isInstanceOf(IllegalArgumentException.class);
  }
}
