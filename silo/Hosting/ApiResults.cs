using GidCluster.Contracts;

namespace GidCluster.Silo.Hosting;

/// <summary>Error responses in one shape (<see cref="ApiError"/>).</summary>
public static class ApiResults
{
    public static IResult BadRequest(string field, string error) => Results.Json(new ApiError(error, field), statusCode: StatusCodes.Status400BadRequest);

    public static IResult NotFound(string error) => Results.Json(new ApiError(error), statusCode: StatusCodes.Status404NotFound);

    public static DateTimeOffset Time(long unixMs) => DateTimeOffset.FromUnixTimeMilliseconds(unixMs);
}
