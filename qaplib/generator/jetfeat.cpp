// Jet clustering and the 16 hls4ml jet-substructure features, computed with the fjcontrib code the
// original dataset used (EnergyCorrelator, SoftDrop as mMDT). Built on first use against the headers
// and libraries bundled in the `fastjet` wheel and called through a plain C ABI (ctypes).
//
// Feature order (matches qaplib.generator.features.FEATURE_NAMES):
//   zlogz c1_b0 c1_b1 c1_b2 c2_b1 c2_b2 d2_b1 d2_b2 d2_a1_b1 d2_a1_b2 m2_b1 m2_b2 n2_b1 n2_b2 mass multiplicity
// followed, per jet, by the ungroomed kinematics pt [GeV], eta, phi, mass [GeV].
#include <algorithm>
#include <cmath>
#include <vector>

#include "fastjet/ClusterSequence.hh"
#include "fastjet/PseudoJet.hh"
#include "fastjet/contrib/EnergyCorrelator.hh"
#include "fastjet/contrib/SoftDrop.hh"

namespace fj = fastjet;
namespace fjc = fastjet::contrib;

namespace {

constexpr int kFeatures = 16;
constexpr int kKinematics = 4;
constexpr int kPerJet = kFeatures + kKinematics;

struct Observables {
  // mMDT = SoftDrop with beta = 0, z_cut = 0.1, R0 = 1 (C/A declustering inside).
  fjc::SoftDrop mmdt{0.0, 0.1, 1.0};
  fjc::EnergyCorrelatorDoubleRatio c1_b0{1, 0.0, fjc::EnergyCorrelator::pt_R};
  fjc::EnergyCorrelatorDoubleRatio c1_b1{1, 1.0, fjc::EnergyCorrelator::pt_R};
  fjc::EnergyCorrelatorDoubleRatio c1_b2{1, 2.0, fjc::EnergyCorrelator::pt_R};
  fjc::EnergyCorrelatorDoubleRatio c2_b1{2, 1.0, fjc::EnergyCorrelator::pt_R};
  fjc::EnergyCorrelatorDoubleRatio c2_b2{2, 2.0, fjc::EnergyCorrelator::pt_R};
  fjc::EnergyCorrelatorD2 d2_b1{1.0, fjc::EnergyCorrelator::pt_R};
  fjc::EnergyCorrelatorD2 d2_b2{2.0, fjc::EnergyCorrelator::pt_R};
  fjc::EnergyCorrelatorGeneralizedD2 d2_a1_b1{1.0, 1.0, fjc::EnergyCorrelator::pt_R};
  fjc::EnergyCorrelatorGeneralizedD2 d2_a1_b2{1.0, 2.0, fjc::EnergyCorrelator::pt_R};
  fjc::EnergyCorrelatorMseries m2_b1{2, 1.0, fjc::EnergyCorrelator::pt_R};
  fjc::EnergyCorrelatorMseries m2_b2{2, 2.0, fjc::EnergyCorrelator::pt_R};
  fjc::EnergyCorrelatorNseries n2_b1{2, 1.0, fjc::EnergyCorrelator::pt_R};
  fjc::EnergyCorrelatorNseries n2_b2{2, 2.0, fjc::EnergyCorrelator::pt_R};

  void compute(const fj::PseudoJet& jet, double* out) const {
    const std::vector<fj::PseudoJet> constituents = jet.constituents();
    double zlogz = 0.0;  // on the ungroomed jet, z = E_i / E_jet
    for (const auto& c : constituents) {
      const double z = c.e() / jet.e();
      if (z > 0.0) zlogz += z * std::log(z);
    }
    const fj::PseudoJet groomed = mmdt(jet);
    const double values[kFeatures] = {
        zlogz,          c1_b0(groomed),    c1_b1(groomed),    c1_b2(groomed),
        c2_b1(groomed), c2_b2(groomed),    d2_b1(groomed),    d2_b2(groomed),
        d2_a1_b1(groomed), d2_a1_b2(groomed), m2_b1(groomed), m2_b2(groomed),
        n2_b1(groomed), n2_b2(groomed),    groomed.m(),       static_cast<double>(constituents.size())};
    std::copy(values, values + kFeatures, out);
    out[kFeatures + 0] = jet.pt();
    out[kFeatures + 1] = jet.eta();
    out[kFeatures + 2] = jet.phi_std();
    out[kFeatures + 3] = jet.m();
  }
};

const Observables& observables() {
  static const Observables instance;
  return instance;
}

}  // namespace

extern "C" {

int jetfeat_values_per_jet() { return kPerJet; }

// Cluster n particles (px, py, pz, E in GeV) with anti-kT of radius R, keep the max_jets hardest
// jets above pt_min, and write kPerJet doubles for each into out (row-major). Returns the number
// of jets written.
int jetfeat_event(const double* px, const double* py, const double* pz, const double* e, int n,
                  double R, double pt_min, int max_jets, double* out) {
  fj::ClusterSequence::set_fastjet_banner_stream(nullptr);  // keep shard logs free of the banner
  std::vector<fj::PseudoJet> particles;
  particles.reserve(n);
  for (int i = 0; i < n; ++i) particles.emplace_back(px[i], py[i], pz[i], e[i]);
  const fj::JetDefinition definition(fj::antikt_algorithm, R);
  const fj::ClusterSequence sequence(particles, definition);
  const std::vector<fj::PseudoJet> jets = fj::sorted_by_pt(sequence.inclusive_jets(pt_min));
  const int n_jets = std::min<int>(max_jets, static_cast<int>(jets.size()));
  for (int j = 0; j < n_jets; ++j) observables().compute(jets[j], out + j * kPerJet);
  return n_jets;
}
}
