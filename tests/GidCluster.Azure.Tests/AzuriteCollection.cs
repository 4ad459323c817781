using GidCluster.TestSupport;

namespace GidCluster.Azure.Tests;

/// <summary>One Azurite server (TestSupport's) for every test class of this project that talks to it.</summary>
[CollectionDefinition("azurite")]
public sealed class AzuriteCollection : ICollectionFixture<AzuriteServer>;
