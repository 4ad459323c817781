using GidCluster.Contracts;
using Orleans;
using Orleans.Runtime;

namespace GidCluster.Grains.Catalog;

[GenerateSerializer]
public sealed class CatalogState
{
    /// <summary>Oldest first.</summary>
    [Id(0)] public List<string> Ids { get; set; } = [];
}

/// <summary>A list of ids (jobs, datasets, runs): what the client and the dashboard enumerate. One entry per job, not per video.</summary>
[GrainType(GrainNames.CatalogType)]
public sealed class CatalogGrain([PersistentState("catalog", GrainNames.Storage)] IPersistentState<CatalogState> state) : Grain, ICatalogGrain
{
    public async Task Add(string id)
    {
        if (state.State.Ids.Contains(id))
            return;
        state.State.Ids.Add(id);
        await state.WriteStateAsync();
    }

    public Task<IReadOnlyList<string>> List(int limit) =>
        Task.FromResult<IReadOnlyList<string>>(state.State.Ids.AsEnumerable().Reverse().Take(limit).ToList());
}
