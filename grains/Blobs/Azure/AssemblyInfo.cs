using System.Runtime.CompilerServices;

// The Azure tests make raw signed REST calls (tampering, block lists) with the store's own signer.
[assembly: InternalsVisibleTo("GidCluster.Azure.Tests")]
