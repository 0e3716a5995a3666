namespace Pix2Pix.Infrastructure.Persistence;

/// <summary>
/// The versioned schema, one list for SQLite and PostgreSQL: portable types only (TEXT ids, BIGINT Unix-millisecond
/// timestamps, INTEGER 0/1 flags, DOUBLE PRECISION). Never edit an applied migration; append a new one.
/// </summary>
public static class Migrations
{
    public static readonly IReadOnlyList<(int Version, string Sql)> All =
    [
        (1, """
            CREATE TABLE datasets (
                id TEXT PRIMARY KEY,
                name TEXT NOT NULL,
                layout TEXT NOT NULL,
                train_count BIGINT NOT NULL,
                val_count BIGINT NOT NULL,
                test_count BIGINT NOT NULL,
                width BIGINT NULL,
                height BIGINT NULL,
                size_bytes BIGINT NOT NULL,
                blob_key TEXT NOT NULL,
                created_at BIGINT NOT NULL
            );
            CREATE TABLE models (
                id TEXT PRIMARY KEY,
                name TEXT NOT NULL UNIQUE,
                default_version BIGINT NULL,
                created_at BIGINT NOT NULL
            );
            CREATE TABLE jobs (
                id TEXT PRIMARY KEY,
                model_id TEXT NOT NULL,
                dataset_id TEXT NOT NULL,
                options TEXT NOT NULL,
                status TEXT NOT NULL,
                cancel_requested BIGINT NOT NULL DEFAULT 0,
                epoch BIGINT NOT NULL DEFAULT 0,
                total_epochs BIGINT NOT NULL,
                iteration BIGINT NOT NULL DEFAULT 0,
                total_iterations BIGINT NOT NULL DEFAULT 0,
                learning_rate DOUBLE PRECISION NULL,
                g_gan DOUBLE PRECISION NULL,
                g_l1 DOUBLE PRECISION NULL,
                d_real DOUBLE PRECISION NULL,
                d_fake DOUBLE PRECISION NULL,
                images_per_second DOUBLE PRECISION NULL,
                error TEXT NULL,
                attempts BIGINT NOT NULL DEFAULT 0,
                created_at BIGINT NOT NULL,
                started_at BIGINT NULL,
                finished_at BIGINT NULL,
                updated_at BIGINT NOT NULL
            );
            CREATE INDEX jobs_by_dataset ON jobs (dataset_id);
            CREATE INDEX jobs_by_model ON jobs (model_id);
            CREATE INDEX jobs_by_status ON jobs (status);
            CREATE TABLE job_iterations (
                job_id TEXT NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
                iteration BIGINT NOT NULL,
                epoch BIGINT NOT NULL,
                learning_rate DOUBLE PRECISION NOT NULL,
                g_gan DOUBLE PRECISION NOT NULL,
                g_l1 DOUBLE PRECISION NOT NULL,
                d_real DOUBLE PRECISION NOT NULL,
                d_fake DOUBLE PRECISION NOT NULL,
                images_per_second DOUBLE PRECISION NOT NULL,
                PRIMARY KEY (job_id, iteration)
            );
            CREATE TABLE job_snapshots (
                job_id TEXT NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
                epoch BIGINT NOT NULL,
                is_final BIGINT NOT NULL,
                val_l1 DOUBLE PRECISION NULL,
                val_psnr DOUBLE PRECISION NULL,
                val_ssim DOUBLE PRECISION NULL,
                val_images BIGINT NULL,
                test_l1 DOUBLE PRECISION NULL,
                test_psnr DOUBLE PRECISION NULL,
                test_ssim DOUBLE PRECISION NULL,
                test_images BIGINT NULL,
                image_blob_key TEXT NULL,
                created_at BIGINT NOT NULL,
                PRIMARY KEY (job_id, epoch)
            );
            CREATE TABLE model_versions (
                model_id TEXT NOT NULL REFERENCES models(id) ON DELETE CASCADE,
                version BIGINT NOT NULL,
                epoch BIGINT NOT NULL,
                is_final BIGINT NOT NULL,
                job_id TEXT NOT NULL,
                dataset_id TEXT NOT NULL,
                options TEXT NOT NULL,
                l1 DOUBLE PRECISION NULL,
                psnr DOUBLE PRECISION NULL,
                ssim DOUBLE PRECISION NULL,
                metric_images BIGINT NULL,
                package_blob_key TEXT NOT NULL,
                package_bytes BIGINT NOT NULL,
                created_at BIGINT NOT NULL,
                PRIMARY KEY (model_id, version),
                UNIQUE (job_id, epoch)
            );
            """),
        (2, """
            ALTER TABLE jobs ADD COLUMN lease_owner TEXT NULL;
            ALTER TABLE jobs ADD COLUMN lease_token BIGINT NOT NULL DEFAULT 0;
            ALTER TABLE jobs ADD COLUMN lease_expires_at BIGINT NOT NULL DEFAULT 0;
            ALTER TABLE jobs ADD COLUMN checkpoint_key TEXT NULL;
            ALTER TABLE jobs ADD COLUMN requeued_at BIGINT NULL;
            ALTER TABLE jobs ADD COLUMN failures BIGINT NOT NULL DEFAULT 0;
            CREATE TABLE job_leases (
                job_id TEXT NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
                token BIGINT NOT NULL,
                owner TEXT NOT NULL,
                acquired_at BIGINT NOT NULL,
                resumed_at_iteration BIGINT NOT NULL,
                released_at BIGINT NULL,
                last_iteration BIGINT NULL,
                outcome TEXT NULL,
                PRIMARY KEY (job_id, token)
            );
            """),
        (3, """
            CREATE TABLE maintenance_runs (
                name TEXT PRIMARY KEY,
                last_run_at BIGINT NOT NULL
            );
            CREATE INDEX jobs_by_status_finished ON jobs (status, finished_at);
            """),
        (4, """
            CREATE TABLE api_keys (
                id TEXT PRIMARY KEY,
                name TEXT NOT NULL,
                prefix TEXT NOT NULL UNIQUE,
                secret_hash TEXT NOT NULL,
                scopes TEXT NOT NULL,
                created_by TEXT NULL,
                created_at BIGINT NOT NULL,
                expires_at BIGINT NULL,
                last_used_at BIGINT NULL,
                revoked_at BIGINT NULL
            );
            ALTER TABLE datasets ADD COLUMN created_by TEXT NULL;
            ALTER TABLE models ADD COLUMN created_by TEXT NULL;
            ALTER TABLE jobs ADD COLUMN created_by TEXT NULL;
            ALTER TABLE jobs ADD COLUMN enqueued_at BIGINT NULL;
            UPDATE jobs SET enqueued_at = created_at;
            CREATE INDEX jobs_by_creator_status ON jobs (created_by, status);
            """),
        (5, """
            CREATE TABLE data_protection_keys (
                name TEXT PRIMARY KEY,
                xml TEXT NOT NULL,
                created_at BIGINT NOT NULL
            );
            """),
        // Versions numbered by a counter per model (never reused), promoted explicitly, with their lineage; imported
        // versions have no job or dataset, so the table is rebuilt with those columns nullable (SQLite cannot alter them).
        (6, """
            ALTER TABLE models ADD COLUMN next_version BIGINT NOT NULL DEFAULT 1;
            UPDATE models SET next_version = 1 + COALESCE((SELECT MAX(version) FROM model_versions WHERE model_versions.model_id = models.id), 0);
            UPDATE models SET default_version = (SELECT MAX(version) FROM model_versions WHERE model_versions.model_id = models.id)
                WHERE default_version IS NULL;
            ALTER TABLE datasets ADD COLUMN sha256 TEXT NULL;
            ALTER TABLE jobs ADD COLUMN promote BIGINT NOT NULL DEFAULT 0;
            CREATE TABLE model_versions_v6 (
                model_id TEXT NOT NULL REFERENCES models(id) ON DELETE CASCADE,
                version BIGINT NOT NULL,
                source TEXT NOT NULL,
                epoch BIGINT NOT NULL,
                is_final BIGINT NOT NULL,
                job_id TEXT NULL,
                dataset_id TEXT NULL,
                dataset_sha256 TEXT NULL,
                imported_file_sha256 TEXT NULL,
                options TEXT NOT NULL,
                l1 DOUBLE PRECISION NULL,
                psnr DOUBLE PRECISION NULL,
                ssim DOUBLE PRECISION NULL,
                metric_images BIGINT NULL,
                test_l1 DOUBLE PRECISION NULL,
                test_psnr DOUBLE PRECISION NULL,
                test_ssim DOUBLE PRECISION NULL,
                test_images BIGINT NULL,
                package_blob_key TEXT NOT NULL,
                package_bytes BIGINT NOT NULL,
                package_sha256 TEXT NULL,
                created_by TEXT NULL,
                created_at BIGINT NOT NULL,
                PRIMARY KEY (model_id, version),
                UNIQUE (job_id, epoch)
            );
            INSERT INTO model_versions_v6 (model_id, version, source, epoch, is_final, job_id, dataset_id, options, l1, psnr, ssim, metric_images,
                package_blob_key, package_bytes, created_at)
            SELECT model_id, version, 'training', epoch, is_final, job_id, dataset_id, options, l1, psnr, ssim, metric_images,
                package_blob_key, package_bytes, created_at FROM model_versions;
            DROP TABLE model_versions;
            ALTER TABLE model_versions_v6 RENAME TO model_versions;
            """),
        (7, """
            CREATE TABLE batch_jobs (
                id TEXT PRIMARY KEY,
                model_id TEXT NOT NULL,
                version BIGINT NOT NULL,
                mode TEXT NOT NULL,
                status TEXT NOT NULL,
                total BIGINT NOT NULL,
                done BIGINT NOT NULL DEFAULT 0,
                cancel_requested BIGINT NOT NULL DEFAULT 0,
                error TEXT NULL,
                input_blob_key TEXT NOT NULL,
                result_blob_key TEXT NULL,
                created_by TEXT NULL,
                created_at BIGINT NOT NULL,
                started_at BIGINT NULL,
                finished_at BIGINT NULL
            );
            CREATE INDEX batch_jobs_by_status ON batch_jobs (status);
            """),
        (8, """
            ALTER TABLE datasets ADD COLUMN previews BIGINT NOT NULL DEFAULT 0;
            """),
    ];
}
