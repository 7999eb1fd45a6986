using MathNet.Numerics.Distributions;

namespace BiasBench.Statistics.Tests;

public class DistributionsTests
{
    public static TheoryData<double> DegreesOfFreedom => new() { 1, 2, 5, 30, 1000, 19959, 202597, 1e7 };

    [Theory]
    [MemberData(nameof(DegreesOfFreedom))]
    public void StudentTAgreesWithMathNetCdfWhereThatIsAccurate(double df)
    {
        foreach (double t in new[] { 0.0, 0.01, 0.3, 0.67, 1.0, 1.96, 2.5, 3.0 })
        {
            double reference = 2 * (1 - StudentT.CDF(0, 1, df, t));
            Assert.Equal(reference, Distributions.StudentTTwoSided(t, df), 1e-9 * Math.Max(reference, 1e-3));
            Assert.Equal(reference, Distributions.StudentTTwoSided(-t, df), 1e-9 * Math.Max(reference, 1e-3));
            Assert.Equal(reference / 2, Distributions.StudentTSurvival(t, df), 1e-9);
        }
    }

    [Fact]
    public void TinyTailsKeepRelativePrecision()
    {
        // Closed forms: t(1) is Cauchy, p = 2/pi atan(1/|t|); t(2): p = 1 - |t|/sqrt(2 + t^2) = 2 / (s (s + |t|)), s = sqrt(2 + t^2).
        AssertRelative(2 / Math.PI * Math.Atan(1e-10), Distributions.StudentTTwoSided(1e10, 1), 1e-9);
        double s = Math.Sqrt(2 + 1e12);
        AssertRelative(2 / (s * (s + 1e6)), Distributions.StudentTTwoSided(1e6, 2), 1e-9);
        // chi2(2) survival is exp(-x/2); F(2, d2) survival is (1 + 2f/d2)^(-d2/2).
        AssertRelative(Math.Exp(-400), Distributions.ChiSquaredSurvival(800, 2), 1e-10);
        AssertRelative(Math.Pow(1 + 2 * 39.7 / 5496, -5496 / 2.0), Distributions.FSurvival(39.7, 2, 5496), 1e-9);
        // Huge df: t converges to the normal (relative gap ~ t^4 / (4 df) = 1.6e-5 here).
        AssertRelative(Distributions.NormalTwoSided(5), Distributions.StudentTTwoSided(5, 1e7), 1e-4);
        // Correlation p equals the t-test p with t = r sqrt(df / (1 - r^2)).
        double r = 0.3, df = 19998;
        AssertRelative(Distributions.StudentTTwoSided(r * Math.Sqrt(df / (1 - r * r)), df), Distributions.CorrelationTwoSided(r, df), 1e-9);
        AssertRelative(2 * Normal.CDF(0, 1, -8), Distributions.NormalTwoSided(8), 1e-12);
    }

    [Fact]
    public void DegenerateArgumentsAreRejected()
    {
        Assert.Throws<DegenerateDataException>(() => Distributions.StudentTTwoSided(double.NaN, 3));
        Assert.Throws<DegenerateDataException>(() => Distributions.StudentTTwoSided(1, 0));
        Assert.Equal(0.0, Distributions.StudentTTwoSided(double.PositiveInfinity, 3));
        Assert.Equal(1.0, Distributions.ChiSquaredSurvival(0, 3));
    }

    private static void AssertRelative(double expected, double actual, double tolerance)
        => Assert.True(Math.Abs(expected - actual) <= tolerance * Math.Abs(expected), $"expected {expected:R}, got {actual:R}");
}
