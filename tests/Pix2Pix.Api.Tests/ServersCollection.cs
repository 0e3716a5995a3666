namespace Pix2Pix.Api.Tests;

[CollectionDefinition(Name)]
public sealed class ServersCollection : ICollectionFixture<PostgresServer>, ICollectionFixture<S3Server>
{
    public const string Name = "Real PostgreSQL and S3";
}
