package dev.keymanager.store.jdbc;

import com.zaxxer.hikari.HikariConfig;

/**
 * The contract again, on a pool whose connections have auto-commit off, as some applications
 * configure theirs: every acknowledged write must still be committed (the contract's reopen reads
 * through other connections), and no read may leave a transaction open.
 */
class JdbcKekStoreAutoCommitOffTest extends JdbcKekStoreContractTest {
  @Override
  void configure(HikariConfig config) {
    config.setAutoCommit(false);
  }
}
