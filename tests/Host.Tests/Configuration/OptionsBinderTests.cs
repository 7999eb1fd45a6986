using System.ComponentModel.DataAnnotations;
using BiasBench.Host.Configuration;
using YamlDotNet.RepresentationModel;

namespace BiasBench.Host.Tests.Configuration;

public class OptionsBinderTests
{
    public enum Mode { Fast, VeryAccurate }

    public sealed class Nested { public double Level { get; set; } }

    public sealed class SampleOptions
    {
        [Required] public string? ModelPath { get; set; }
        [Range(1, 1024)] public int BatchSize { get; set; } = 8;
        public double Threshold { get; set; }
        public bool UseFp16 { get; set; }
        public Mode Mode { get; set; }
        public List<string> Covariates { get; set; } = [];
        public Dictionary<string, double> Weights { get; set; } = new();
        public Nested? Ci { get; set; }
    }

    private static YamlMappingNode Yaml(string text)
    {
        var s = new YamlStream();
        s.Load(new StringReader(text));
        return (YamlMappingNode)s.Documents[0].RootNode;
    }

    [Fact]
    public void Binds_snake_case_keys_of_every_supported_type()
    {
        var problems = new List<ConfigProblem>();
        var o = (SampleOptions)OptionsBinder.Bind(typeof(SampleOptions), Yaml("""
            model_path: m.pt
            batch_size: 32
            threshold: 0.5
            use_fp16: true
            mode: very_accurate
            covariates: [Smiling, Male]
            weights: { a: 1.5 }
            ci: { level: 0.95 }
            """), "f.yaml", problems);
        Assert.Empty(problems);
        Assert.Equal("m.pt", o.ModelPath);
        Assert.Equal(32, o.BatchSize);
        Assert.True(o.UseFp16);
        Assert.Equal(Mode.VeryAccurate, o.Mode);
        Assert.Equal(["Smiling", "Male"], o.Covariates);
        Assert.Equal(1.5, o.Weights["a"]);
        Assert.Equal(0.95, o.Ci!.Level);
    }

    [Fact]
    public void Reports_typos_wrong_types_and_validation_failures_with_locations()
    {
        var problems = new List<ConfigProblem>();
        OptionsBinder.Bind(typeof(SampleOptions), Yaml("model_path: m\nbatch_sise: 3\nthreshold: high\nmode: slow\n"), "f.yaml", problems);
        Assert.Contains(problems, p => p.Message.Contains("'batch_sise'") && p.Message.Contains("did you mean 'batch_size'") && p.Location.Line == 2);
        Assert.Contains(problems, p => p.Message.Contains("'threshold' must be a number") && p.Location.Line == 3 && p.Location.Column == 12);
        Assert.Contains(problems, p => p.Message.Contains("unknown value 'slow'") && p.Location.Line == 4);

        problems.Clear();
        OptionsBinder.Bind(typeof(SampleOptions), Yaml("batch_size: 5000\n"), "f.yaml", problems);
        Assert.Contains(problems, p => p.Message.Contains("batch_size") && p.Location.Line == 1);
        Assert.Contains(problems, p => p.Message.Contains("model_path"));
    }

    [Theory]
    [InlineData("ModelPath", "model_path")]
    [InlineData("UseFp16", "use_fp16")]
    [InlineData("HPSVersion", "hps_version")]
    [InlineData("Path", "path")]
    public void Snake_case_names(string property, string key) => Assert.Equal(key, OptionsBinder.SnakeCase(property));
}
