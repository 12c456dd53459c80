//! Prints template.yaml in CloudFormation's JSON form (short tags in their long forms): what the
//! local deploy (infra/local/deploy.py) adjusts and sends, so that it parses no YAML of its own.

fn main() {
    let template = integration_tests::template::load();
    println!("{}", integration_tests::template::cloudformation_json(&template));
}
